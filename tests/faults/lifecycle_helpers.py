"""Helpers of the MLflow fault tests: a pipeline context against the proxied server, and the two
counts every fault case asserts (versions registered wrongly, versions that verify)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlgate.evidence import tags as T


@dataclass
class Setup:
    config: Path
    model: Path
    name: str
    public_key: Path
    private_key: Path
    serving: Path


def make_setup(tmp: Path, tracking_uri: str, *, name: str | None = None, keys: bool = True) -> Setup:
    from mlgate._dev.samples import write_clean_model
    from mlgate.evidence.attestation import generate_keypair
    from mlgate.policy import packaged_policies_dir

    name = name or f"faults-{uuid.uuid4().hex[:8]}"
    kdir = tmp / "keys"
    if keys:
        generate_keypair(kdir)
    model = write_clean_model(tmp / "artifact")
    cfg = {
        "apiVersion": "mlgate/v1", "kind": "Pipeline", "name": name, "tracking_uri": tracking_uri,
        "policy": str(packaged_policies_dir() / "local-stack.yaml"), "model_name": name,
        "training": {"function": "mlgate._dev.examples.train_sklearn:train"},
        "signing": {"private_key": str(kdir / "signing-key.pem"), "public_key": str(kdir / "signing-key.pub")},
        "deploy": {"alias": "production", "target": "folder", "folder": str(tmp / "serving")},
        "work_dir": str(tmp / "runs"),
    }
    path = tmp / "pipeline.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return Setup(path, model, name, kdir / "signing-key.pub", kdir / "signing-key.pem", tmp / "serving")


def context(setup: Setup) -> Any:
    from mlgate.lifecycle.config import load_pipeline_config
    from mlgate.lifecycle.pipeline import Context

    return Context(load_pipeline_config(setup.config))


def versions(client: Any, name: str) -> list[Any]:
    try:
        return list(client.search_model_versions(f"name='{name}'"))
    except Exception:
        return []


def version_verifies(client: Any, mv: Any, public_key: Path, tmp: Path) -> bool:
    """The version's signed statement verifies, covers its exact source, and the bytes at that
    source hash to the signed manifest."""
    import mlflow

    from mlgate.digest import manifest_of
    from mlgate.lifecycle.staging import hash_tree
    from mlgate.registry.verify import EvidenceError, check_attestation, check_manifest, load_public_keys

    tags = dict(mv.tags or {})
    try:
        payload = check_attestation(tags.get(T.ENVELOPE), load_public_keys(str(public_key)),
                                    source=mv.source)
        dest = tmp / f"check-{mv.name}-{mv.version}-{uuid.uuid4().hex[:6]}"
        got = Path(mlflow.artifacts.download_artifacts(artifact_uri=mv.source, dst_path=str(dest),
                                                       tracking_uri=client.tracking_uri))
        check_manifest(payload, manifest_of(hash_tree(got)))
    except EvidenceError:
        return False
    return tags.get(T.MANIFEST) == payload["subject"]["manifest_sha256"]


def registered_wrongly(client: Any, name: str, public_key: Path, tmp: Path) -> int:
    """Versions that read as pass (verdict tag) without evidence that verifies for their bytes."""
    return sum(1 for mv in versions(client, name)
               if (mv.tags or {}).get(T.VERDICT) == "pass" and not version_verifies(client, mv, public_key, tmp))


def one_line(e: BaseException) -> str:
    text = str(e)
    assert text
    assert "\n" not in text.strip(), f"not one line: {text!r}"
    assert "Traceback" not in text
    return text
