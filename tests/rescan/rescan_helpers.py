"""Helpers of the rescan tests: policies written next to the test data, the CLI with the rescan
commands registered (as the lead adds them to ``mlgate.cli.SUBCOMMANDS``), S3 tampering."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
POLICIES = REPO / "policies"

RESCAN_SUBCOMMANDS = {
    "rescan": ("mlgate.commands.rescan:rescan", "Rescan registered model versions now; quarantine failures."),
    "release": ("mlgate.commands.release:release", "Re-verify a quarantined model version and release it."),
    "schedule": ("mlgate.commands.schedule:schedule", "Serve the weekly rescan (Flow.serve) or print its schedule."),
}


def write_policy(path: Path, *, base: str = "local-stack.yaml", model_scan: dict[str, Any] | None = None,
                 rescan: dict[str, Any] | None = None, include_rescan: bool = False,
                 exceptions: list[dict[str, Any]] | None = None,
                 checkpoints: dict[str, Any] | None = None) -> Path:
    """A copy of a repository policy with absolute includes and the given overrides."""
    doc = yaml.safe_load((POLICIES / base).read_text())
    doc["name"] = path.stem
    doc["allowlist"]["include"] = [str(POLICIES / p) for p in doc["allowlist"]["include"]]
    gates = {}
    for gid, section in doc.get("gates", {}).items():
        gates[gid] = {**section, "include": str(POLICIES / section["include"])} if "include" in section else section
    posture = gates.get("mlflow-posture")
    if posture is not None:  # its advisory table is named relative to the policy's folder
        posture = yaml.safe_load(Path(posture["include"]).read_text()) if "include" in posture else dict(posture)
        posture["advisories"] = str(POLICIES / posture.get("advisories", "mlflow-advisories.yaml"))
        gates["mlflow-posture"] = posture
    if model_scan:
        gates["model-scan"] = {**gates.get("model-scan", {}), **model_scan}
    if include_rescan or rescan:
        gates["rescan"] = {**({"include": str(POLICIES / "gates" / "rescan.yaml")} if include_rescan else {}),
                           **(rescan or {})}
    doc["gates"] = gates
    if exceptions is not None:
        doc["exceptions"] = exceptions
    if checkpoints:
        doc["checkpoints"] = {**doc["checkpoints"], **checkpoints}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def write_config(base: Path, dest: Path, **override: Any) -> Path:
    doc = yaml.safe_load(base.read_text())
    doc.update(override)
    dest.write_text(yaml.safe_dump(doc, sort_keys=False))
    return dest


def flip_byte(s3: Any, bucket: str, key: str) -> None:
    body = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0x01
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(body))


def parse_json(text: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(text)
    return data
