"""MLflow tags: the registry's view of the verdicts. A pure function of the reports plus the
manifest and the evidence locations; tags are searchable, but never trusted on their own (the
deploy checkpoint and the registry guard verify the signed attestation)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from mlgate.model import Report, Verdict

MAX_TAG = 5000


def mlflow_tags(
    reports: Sequence[Report],
    *,
    manifest_sha256: str,
    checked_at: str,
    attestation_path: str | None = None,
    signature_path: str | None = None,
    attestation_sha256: str | None = None,
    attestation_envelope: str | None = None,
) -> dict[str, str]:
    verdict = Verdict.worst([r.verdict for r in reports])
    tools: dict[str, str] = {}
    for r in reports:
        tools.update(r.tools)
    policies = sorted({r.policy.digest for r in reports})
    tags = {
        "mlgate.verdict": verdict.value,
        "mlgate.manifest_sha256": manifest_sha256,
        "mlgate.policy_digest": policies[0] if len(policies) == 1 else json.dumps(policies),
        "mlgate.scanners": json.dumps(tools, sort_keys=True, separators=(",", ":")),
        "mlgate.checked_at": checked_at,
        "mlgate.checkpoint": ",".join(sorted({r.checkpoint or "-" for r in reports})),
        "mlgate.gates": ",".join(f"{r.gate}={r.verdict.value}" for r in reports),
    }
    if attestation_path:
        tags["mlgate.attestation"] = attestation_path
    if attestation_sha256:
        tags["mlgate.attestation_sha256"] = attestation_sha256
    if signature_path:
        tags["mlgate.signature"] = signature_path
    # Order matters to the registry guard: the signed envelope first, the verdict last (a passing
    # verdict is refused unless a valid envelope is already on the version).
    out: dict[str, str] = {}
    if attestation_envelope is not None:
        if len(attestation_envelope) > MAX_TAG:
            raise ValueError("attestation envelope too large for a tag")
        out["mlgate.attestation_envelope"] = attestation_envelope  # never truncated: it is signed
    out.update({k: v[:MAX_TAG] for k, v in tags.items() if k != "mlgate.verdict"})
    out["mlgate.verdict"] = tags["mlgate.verdict"]
    return out
