"""Running the gates a policy assigns to a checkpoint, and turning the outcome into a typed error.

A checkpoint runs every gate the policy lists for it that has something to check (files to scan,
datasets to validate, buckets to audit). A gate the policy lists but that is not installed is an
error (never a skip). The outcome's verdict is the worst of the reports; anything but ``pass``
raises :class:`~mlgate.errors.GateFailed` (or its ``Incomplete``/``Errored`` variants) naming the
checkpoint, the gate and the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate.api import run_gate
from mlgate.errors import GateErrored, GateFailed, GateIncomplete
from mlgate.model import Report, Verdict
from mlgate.policy import Policy


@dataclass
class CheckpointOutcome:
    checkpoint: str
    reports: list[Report] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        return Verdict.worst([r.verdict for r in self.reports]) if self.reports else Verdict.INCOMPLETE

    def raise_if_blocked(self) -> None:
        v = self.verdict
        if v is Verdict.PASS:
            return
        if not self.reports:
            raise GateIncomplete(self.checkpoint, "-", "no gate had anything to check", None)
        bad = next(r for r in self.reports if r.verdict is v)
        cls = {Verdict.FAIL: GateFailed, Verdict.ERROR: GateErrored, Verdict.INCOMPLETE: GateIncomplete}[v]
        raise cls(self.checkpoint, bad.gate, bad.reason, bad)


@dataclass(frozen=True)
class DatasetInput:
    path: str  # local staged copy (or URI)
    suite: str


def run_checkpoint(
    checkpoint: str,
    policy: Policy,
    *,
    scan_paths: Sequence[str | Path] = (),
    datasets: Sequence[DatasetInput] = (),
    buckets: Sequence[str] = (),
    boto3_session: Any | None = None,
    tracking_uri: str | None = None,
) -> CheckpointOutcome:
    out = CheckpointOutcome(checkpoint)
    for gate_id in policy.gates_for(checkpoint):
        if gate_id == "model-scan":
            if scan_paths:
                out.reports.append(run_gate("model-scan", list(scan_paths), policy=policy, checkpoint=checkpoint))
            else:
                out.notes.append("model-scan: nothing to scan at this checkpoint")
        elif gate_id == "data-quality":
            for ds in datasets:
                out.reports.append(
                    run_gate("data-quality", [ds.path], policy=policy, checkpoint=checkpoint, suite=ds.suite)
                )
            if not datasets:
                out.notes.append("data-quality: no datasets at this checkpoint")
        elif gate_id == "s3-audit":
            if buckets:
                opts = {"session": boto3_session} if boto3_session is not None else {}
                out.reports.append(run_gate("s3-audit", list(buckets), policy=policy, checkpoint=checkpoint, **opts))
            else:
                out.notes.append("s3-audit: no buckets at this checkpoint")
        elif gate_id == "mlflow-posture":
            if tracking_uri:
                out.reports.append(run_gate("mlflow-posture", [tracking_uri], policy=policy, checkpoint=checkpoint))
            else:
                out.notes.append("mlflow-posture: no tracking server at this checkpoint")
        else:  # a third-party gate: it gets every path we have
            targets = [str(p) for p in scan_paths] + [d.path for d in datasets] + list(buckets)
            out.reports.append(run_gate(gate_id, targets, policy=policy, checkpoint=checkpoint))
    return out
