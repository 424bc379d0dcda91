"""The gate base class. :meth:`Gate.evaluate` owns the invariants every gate shares, so a gate
cannot forget them (template method):

* it validates the gate's settings from the policy (a policy error names file and field);
* it turns an unexpected exception inside ``_check`` into an ``error`` report, never a pass;
* it judges every subject's findings under the policy (thresholds, waivers with expiry);
* a subject that nothing positively analysed is ``incomplete``, and a run with no subjects is
  ``incomplete`` ("never pass from silence");
* it stamps tool versions, the policy digest and timestamps.

A gate implements ``_check`` and returns a :class:`GateRun` of unjudged :class:`SubjectDraft`.
"""

from __future__ import annotations

import logging
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar, final

from pydantic import BaseModel

from mlgate import __version__
from mlgate.errors import MlgateError
from mlgate.model import (
    Coverage,
    Finding,
    FindingKind,
    Location,
    Report,
    RootManifest,
    Severity,
    SubjectResult,
    Verdict,
    utcnow,
)
from mlgate.policy import Policy, what_failed

log = logging.getLogger(__name__)

ConfigT = TypeVar("ConfigT", bound=BaseModel)

# progress(advance_by, description): gates call it as they go; the CLI draws a bar from it.
Progress = Callable[[int, str], None]


def _no_progress(_n: int, _d: str) -> None:
    return None


@dataclass
class SubjectDraft:
    subject: str
    kind: str
    root: str = ""
    findings: list[Finding] = field(default_factory=list)
    coverage: list[Coverage] = field(default_factory=list)
    sha256: str | None = None
    size: int | None = None
    formats: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class GateRun:
    subjects: list[SubjectDraft] = field(default_factory=list)
    manifests: list[RootManifest] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # not tied to one subject
    tools: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class Gate(ABC, Generic[ConfigT]):
    id: ClassVar[str]
    version: ClassVar[str] = __version__
    config_model: ClassVar[type[BaseModel]]
    #: What the subjects are called in messages ("file", "bucket", "dataset").
    subject_noun: ClassVar[str] = "subject"

    @final
    def evaluate(
        self,
        targets: Sequence[str],
        policy: Policy,
        checkpoint: str | None = None,
        progress: Progress | None = None,
        **options: Any,
    ) -> Report:
        started = utcnow()
        config: ConfigT = policy.gate_config(self.id, self.config_model)  # type: ignore[assignment]
        tools = {"mlgate": __version__, f"gate:{self.id}": self.version}
        try:
            run = self._check(list(targets), policy, checkpoint, config, progress or _no_progress, **options)
        except MlgateError:
            raise
        except Exception as e:  # a gate bug or hostile input must never become a pass
            log.debug("gate %s crashed", self.id, exc_info=True)
            err = Finding(
                id="MLG-GATE-CRASH",
                title=f"Gate {self.id} failed",
                severity=Severity.HIGH,
                kind=FindingKind.ERROR,
                message=f"{type(e).__name__}: {e}",
                location=Location(path=",".join(targets) or "-"),
                engine="mlgate",
                details={"traceback": traceback.format_exc(limit=8)},
            )
            run = GateRun(findings=[err])
        tools.update(run.tools)
        return self._judge(run, policy, checkpoint, started, tools)

    def _judge(
        self, run: GateRun, policy: Policy, checkpoint: str | None, started: Any, tools: dict[str, str]
    ) -> Report:
        subjects: list[SubjectResult] = []
        for d in run.subjects:
            judged, verdict, reason = policy.judge_findings(d.findings, d.subject, checkpoint)
            if verdict is Verdict.PASS and not d.coverage:
                verdict, reason = Verdict.INCOMPLETE, f"no engine positively analysed this {self.subject_noun}"
            subjects.append(
                SubjectResult(
                    subject=d.subject,
                    kind=d.kind,
                    root=d.root,
                    verdict=verdict,
                    reason=reason,
                    sha256=d.sha256,
                    size=d.size,
                    formats=tuple(d.formats),
                    coverage=tuple(d.coverage),
                    findings=tuple(judged),
                    details=d.details,
                )
            )
        g_judged, g_verdict, g_reason = policy.judge_findings(run.findings, "-", checkpoint)
        verdicts = [s.verdict for s in subjects]
        if run.findings:
            verdicts.append(g_verdict)
        notes = list(run.notes)
        for exc in policy.expired_exceptions():
            notes.append(f"exception {exc.id} (owner {exc.owner}) expired on {exc.expires}: no longer applied")
        if not subjects and not run.findings:
            overall, reason = Verdict.INCOMPLETE, f"nothing to check: no {self.subject_noun}s found"
        else:
            overall = Verdict.worst(verdicts)
            reason = _overall_reason(overall, subjects, g_reason, self.subject_noun)
        return Report(
            gate=self.id,
            checkpoint=checkpoint,
            verdict=overall,
            reason=reason,
            policy=policy.ref(),
            tools=tools,
            started_at=started,
            finished_at=utcnow(),
            manifests=tuple(run.manifests),
            subjects=tuple(subjects),
            findings=tuple(g_judged),
            notes=tuple(notes),
        )

    @abstractmethod
    def _check(
        self,
        targets: list[str],
        policy: Policy,
        checkpoint: str | None,
        config: ConfigT,
        progress: Progress,
        **options: Any,
    ) -> GateRun:
        """Collect and analyse. Report everything as findings and coverage; decide nothing."""


def _overall_reason(overall: Verdict, subjects: list[SubjectResult], global_reason: str, noun: str) -> str:
    if overall is Verdict.PASS:
        return f"all {len(subjects)} {noun}(s) passed"
    bad = sorted((s for s in subjects if s.verdict is overall), key=lambda s: (-_top_rank(s), s.root, s.subject))
    parts = [f"{len(bad)} {noun}(s) {overall.value}"]
    if bad:
        # Name the most severe problem, not the first file in alphabetical order.
        worst = bad[0]
        roots = {s.root for s in subjects}
        where = f"{worst.root}: {worst.subject}" if len(roots) > 1 and worst.root != worst.subject else worst.subject
        top = _top_finding(worst)
        what = f"{top.severity.value} {top.id}: {what_failed(top)}" if top is not None else worst.reason
        parts.append(f"most severe: {where}: {what}")
    if global_reason:
        parts.append(global_reason)
    return "; ".join(parts)


def _top_finding(s: SubjectResult) -> Finding | None:
    blocking = [f for f in s.findings if f.blocking]
    return max(blocking, key=lambda f: f.severity.rank) if blocking else None


def _top_rank(s: SubjectResult) -> int:
    top = _top_finding(s)
    return top.severity.rank if top is not None else -1


def load_gate(gate_id: str) -> Gate[Any]:
    """Resolve a gate id through the ``mlgate.gates`` entry points. A missing or broken gate is an
    error (never a skip): gates are security-critical."""
    from importlib.metadata import entry_points

    from mlgate.errors import PolicyError

    eps = [ep for ep in entry_points(group="mlgate.gates") if ep.name == gate_id]
    if not eps:
        raise PolicyError("<installed gates>", gate_id, "no gate with this id is installed")
    builtin = [ep for ep in eps if ep.value.startswith("mlgate.")]
    ep = (builtin or eps)[0]  # a built-in wins an id collision
    if len(eps) > 1:
        log.warning("gate id %s is provided by %d packages; using %s", gate_id, len(eps), ep.value)
    try:
        cls = ep.load()
    except Exception as e:
        raise PolicyError("<installed gates>", gate_id, f"gate failed to load: {e}") from e
    gate: Gate[Any] = cls()
    return gate
