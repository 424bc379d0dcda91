"""`mlgate scan hf://org/repo@<commit>` through huggingface_hub against a local EMULATION of the
hub's endpoints (tests/targets/hub_emulation.py; no hub is reachable here). The revision must be
a full commit sha; files are verified against the hub's LFS sha256 / git blob id and size."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.report.report_helpers import EVIL
from tests.targets.hub_emulation import Hub, serve

from mlgate.api import scan
from mlgate.cli import main
from mlgate.errors import UsageError
from mlgate.model import Verdict
from mlgate.samples import write_clean_model

COMMIT = "0123456789abcdef0123456789abcdef01234567"
REPO = "acme/tiny"


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Hub, str, Path]]:
    folder = write_clean_model(tmp_path / "tiny")
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    h = Hub(repos={REPO: {COMMIT: files}, "acme/evil": {COMMIT: {"pytorch_model.bin": EVIL}}},
            lfs={"model.safetensors", "pytorch_model.bin"})
    srv, url = serve(h)
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    try:
        yield h, url, folder
    finally:
        srv.shutdown()
        srv.server_close()


def test_pinned_commit_scans_like_the_local_folder(hub: tuple[Hub, str, Path], default_policy_path: Path) -> None:
    h, _, folder = hub
    local = scan([folder], policy=default_policy_path)
    r = scan([f"hf://{REPO}@{COMMIT}"], policy=default_policy_path)
    assert r.verdict is Verdict.PASS, r.reason
    assert r.manifests[0].manifest_sha256 == local.manifests[0].manifest_sha256
    st = next(s for s in r.subjects if s.subject == "model.safetensors")
    assert st.details["remote"]["sha256"] == st.sha256  # verified against the LFS record
    assert any(p.startswith("/lfs-cdn/") for p in h.requests)  # the redirect was followed
    cfg = next(s for s in r.subjects if s.subject == "config.json")
    assert "git_blob_sha1" in cfg.details["remote"]
    bad = scan([f"hf://acme/evil@{COMMIT}"], policy=default_policy_path)
    assert bad.verdict is Verdict.FAIL


@pytest.mark.parametrize("uri", ["hf://acme/tiny", "hf://acme/tiny@main", "hf://acme/tiny@v1.0",
                                 f"hf://acme/tiny@{COMMIT[:12]}"])
def test_unpinned_revisions_are_refused(uri: str, default_policy_path: Path) -> None:
    with pytest.raises(UsageError, match="commit sha"):
        scan([uri], policy=default_policy_path)
    assert main(["scan", "-p", str(default_policy_path), uri]) == 4


def test_tampered_download_and_unknown_commit_are_errors(hub: tuple[Hub, str, Path], default_policy_path: Path) -> None:
    h, _, _ = hub
    h.tamper["config.json"] = b'{"model_type": "other"}'
    h.tamper["model.safetensors"] = b"x" * len(h.repos[REPO][COMMIT]["model.safetensors"])
    r = scan([f"hf://{REPO}@{COMMIT}"], policy=default_policy_path)
    assert r.verdict is Verdict.ERROR
    msgs = {s.subject: s.findings[0].message for s in r.subjects if s.subject in h.tamper}
    assert "listing said" in msgs["config.json"] or "more bytes" in msgs["config.json"]
    assert "sha256" in msgs["model.safetensors"]
    assert not r.manifests
    other = "f" * 40
    r2 = scan([f"hf://{REPO}@{other}"], policy=default_policy_path)
    assert r2.verdict is Verdict.ERROR
    assert "RevisionNotFound" in r2.findings[0].message
    r3 = scan([f"hf://acme/none@{COMMIT}"], policy=default_policy_path)
    assert r3.verdict is Verdict.ERROR
    assert "RepositoryNotFoundError" in r3.findings[0].message
