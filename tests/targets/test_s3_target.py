"""`mlgate scan s3://bucket/prefix` against a real moto S3 server on 127.0.0.1 (started by the
session fixture): the same subjects, verdicts and manifest digest as the same files scanned
locally; objects streamed one at a time; fail closed on AccessDenied, missing buckets, objects
that change after the listing and copies that do not match it; an empty prefix is incomplete."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import boto3
import pytest
from tests.report.report_helpers import EVIL

from mlgate.api import scan
from mlgate.cli import main
from mlgate.digest import manifest_of
from mlgate.model import Verdict
from mlgate.samples import write_clean_model
from mlgate.targets.base import RemoteObject, TargetProblem
from mlgate.targets.s3 import S3Source

BUCKET = "mlgate-targets"


def _upload(s3, folder: Path, prefix: str) -> None:  # type: ignore[no-untyped-def]
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            s3.put_object(Bucket=BUCKET, Key=f"{prefix}{p.relative_to(folder).as_posix()}", Body=p.read_bytes())


@pytest.fixture
def model(tmp_path: Path) -> Path:
    d = write_clean_model(tmp_path / "tiny")
    (d / "sub").mkdir()
    (d / "sub" / "evil.pkl").write_bytes(EVIL)
    return d


@pytest.fixture
def s3(aws_env: str, moto_reset: None):  # type: ignore[no-untyped-def]
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def test_prefix_scans_like_the_local_folder(s3, model: Path, default_policy_path: Path) -> None:  # type: ignore[no-untyped-def]
    _upload(s3, model, "models/tiny/")
    s3.put_object(Bucket=BUCKET, Key="models/tiny-other/evil.pkl", Body=EVIL)  # a neighbour, not included
    s3.put_object(Bucket=BUCKET, Key="models/tiny/", Body=b"")  # a folder marker
    local = scan([model], checkpoint="pre-publish", policy=default_policy_path)
    remote = scan([f"s3://{BUCKET}/models/tiny"], checkpoint="pre-publish", policy=default_policy_path)
    assert remote.verdict is local.verdict is Verdict.FAIL
    assert {s.subject: s.verdict for s in remote.subjects} == {s.subject: s.verdict for s in local.subjects}
    assert {s.subject: s.sha256 for s in remote.subjects} == {s.subject: s.sha256 for s in local.subjects}
    (lm,), (rm,) = local.manifests, remote.manifests
    assert rm.root == f"s3://{BUCKET}/models/tiny"
    assert rm.manifest_sha256 == lm.manifest_sha256 == manifest_of(lm.files)
    assert all(s.root == rm.root for s in remote.subjects)
    evil = next(s for s in remote.subjects if s.subject == "sub/evil.pkl")
    assert evil.details["remote"]["source"] == f"s3://{BUCKET}/models/tiny/sub/evil.pkl"
    assert evil.details["remote"]["etag"]
    assert any("folder marker" in n for n in remote.notes)


def test_a_single_object_and_a_mixed_local_and_remote_scan(s3, model: Path, default_policy_path: Path) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=BUCKET, Key="one/config.json", Body=(model / "config.json").read_bytes())
    r = scan([f"s3://{BUCKET}/one/config.json", model / "model.safetensors"], policy=default_policy_path)
    assert r.verdict is Verdict.PASS, r.reason
    assert [(s.root, s.subject) for s in r.subjects] == [
        (f"s3://{BUCKET}/one/config.json", "config.json"), (str(model / "model.safetensors"), "model.safetensors")]
    assert [m.kind for m in r.manifests] == ["file", "file"]


def test_streamed_one_object_at_a_time(s3, model: Path, tmp_path: Path, default_policy_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """With max_workers=1 at most one object is on local disk at any time."""
    import mlgate.targets.gate as tg
    from mlgate.policy import load_policy

    _upload(s3, model, "m/")
    seen: list[int] = []
    real = tg.scan_file

    def spy(entry, config, gp):  # type: ignore[no-untyped-def]
        stage = Path(entry.abspath).parents[2]
        seen.append(sum(1 for p in stage.rglob("blob")))
        return real(entry, config, gp)

    monkeypatch.setattr(tg, "scan_file", spy)
    pols = tmp_path / "policies"
    shutil.copytree(default_policy_path.parent, pols)
    ms = pols / "gates" / "model-scan.yaml"
    text = ms.read_text()
    ms.write_text(re.sub(r"(?m)^max_workers:.*$", "max_workers: 1", text) if "max_workers:" in text
                  else text + "\nmax_workers: 1\n")
    pol = load_policy(pols / default_policy_path.name)
    r = scan([f"s3://{BUCKET}/m/"], policy=pol)
    assert len(r.subjects) == len(seen) == sum(1 for p in model.rglob("*") if p.is_file())
    assert max(seen) == 1


def test_empty_prefix_is_incomplete(s3, default_policy_path: Path, model: Path) -> None:  # type: ignore[no-untyped-def]
    r = scan([f"s3://{BUCKET}/nothing/here/"], policy=default_policy_path)
    assert r.verdict is Verdict.INCOMPLETE
    assert r.findings[0].id == "MLG-TARGET-EMPTY"
    # Beside a clean local folder, still not a pass.
    r2 = scan([f"s3://{BUCKET}/nothing/", model / "config.json"], policy=default_policy_path)
    assert r2.verdict is Verdict.INCOMPLETE, r2.reason
    assert main(["scan", "-p", str(default_policy_path), f"s3://{BUCKET}/nothing/"]) == 3


def test_access_denied_and_missing_bucket_are_errors(s3, model: Path, default_policy_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    _upload(s3, model, "m/")
    deny = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                                                     "Resource": f"arn:aws:s3:::{BUCKET}/*"}]}
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(deny))
    r = scan([f"s3://{BUCKET}/m/"], policy=default_policy_path)
    assert r.verdict is Verdict.ERROR, r.reason
    assert all(s.verdict is not Verdict.PASS for s in r.subjects)
    assert "access denied" in r.subjects[0].findings[0].message
    assert not r.manifests
    assert main(["scan", "-p", str(default_policy_path), "-f", "json", f"s3://no-such-bucket-{BUCKET}/m/"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["findings"][0]["id"] == "MLG-TARGET-LIST"
    assert "NoSuchBucket" in doc["findings"][0]["message"]


def test_unreachable_endpoint_is_an_error(aws_env: str, default_policy_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """(moto does not enforce a Deny on s3:ListBucket for list_objects_v2, so a listing failure is
    shown with an endpoint where nothing listens.)"""
    from mlgate.stack.procs import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    r = scan([f"s3://{BUCKET}/m/"], policy=default_policy_path)
    assert r.verdict is Verdict.ERROR
    assert r.findings[0].id == "MLG-TARGET-LIST"
    assert "EndpointConnectionError" in r.findings[0].message
    assert main(["scan", "-p", str(default_policy_path), f"s3://{BUCKET}/m/"]) == 2


def test_no_credentials_is_one_clear_error(aws_env: str, default_policy_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    r = scan([f"s3://{BUCKET}/m/"], policy=default_policy_path)
    assert r.verdict is Verdict.ERROR
    assert "no complete AWS credentials" in r.findings[0].message


def test_changed_after_listing_and_size_mismatch_are_errors(s3, model: Path, tmp_path: Path, default_policy_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    _upload(s3, model, "m/")
    src = S3Source()
    listing = src.list(f"s3://{BUCKET}/m/")
    obj = next(o for o in listing.objects if o.rel == "config.json")
    # A copy that does not match the listed size is refused.
    wrong = RemoteObject(obj.rel, obj.key, obj.size - 1, obj.expect)
    with pytest.raises(TargetProblem, match="more bytes than the"):
        src.fetch(listing, wrong, tmp_path / "a")
    wrong = RemoteObject(obj.rel, obj.key, obj.size + 1, obj.expect)
    with pytest.raises(TargetProblem, match="the listing said"):
        src.fetch(listing, wrong, tmp_path / "b")
    # Through the gate: the object is replaced between the listing and the download (a clean
    # prefix, so no finding outranks the error).
    s3.delete_object(Bucket=BUCKET, Key="m/sub/evil.pkl")
    real_list = S3Source.list

    def list_then_replace(self, uri):  # type: ignore[no-untyped-def]
        out = real_list(self, uri)
        s3.put_object(Bucket=BUCKET, Key="m/config.json", Body=b'{"replaced": true}')
        return out

    monkeypatch.setattr(S3Source, "list", list_then_replace)
    r = scan([f"s3://{BUCKET}/m/"], policy=default_policy_path)
    assert r.verdict is Verdict.ERROR, r.reason
    cfg = next(s for s in r.subjects if s.subject == "config.json")
    assert cfg.verdict is not Verdict.PASS
    assert "changed after it was listed" in cfg.findings[0].message or "PreconditionFailed" in cfg.findings[0].message
    assert not r.manifests
