"""Rule metadata for the model scan gate. Each rule is declared once, next to the analyser that
raises it, through :func:`rule`; ids are unique (a duplicate fails at import) and stable (they are
what policies waive and what SARIF reports as ``ruleId``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlgate.model import FindingKind, Severity


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: Severity
    remediation: str
    references: tuple[str, ...] = field(default=())
    kind: FindingKind = FindingKind.ISSUE


RULES: dict[str, Rule] = {}


def rule(
    id: str,
    title: str,
    severity: Severity,
    remediation: str,
    references: tuple[str, ...] = (),
    kind: FindingKind = FindingKind.ISSUE,
) -> Rule:
    if id in RULES:
        raise ValueError(f"duplicate rule id {id}")
    r = Rule(id, title, severity, remediation, references, kind)
    RULES[id] = r
    return r


# Rules shared by every analyser.
FILE_UNSUPPORTED = rule(
    "MLG-FILE-UNSUPPORTED",
    "File format not recognised; not analysed",
    Severity.MEDIUM,
    "Remove the file from the model folder, convert it to a supported format (safetensors), or waive it "
    "with an exception naming the file and an owner.",
    kind=FindingKind.UNSUPPORTED,
)
FILE_LIMIT = rule(
    "MLG-FILE-LIMIT",
    "Analysis limit reached (size, depth, ratio or time); content not fully analysed",
    Severity.MEDIUM,
    "Check the file by hand; raise the limit in the policy (gates.model-scan.limits) only if the file is trusted.",
    kind=FindingKind.UNSUPPORTED,
)
FILE_SPECIAL = rule(
    "MLG-FILE-SPECIAL",
    "Symlink, device, FIFO or socket in the scanned tree",
    Severity.HIGH,
    "Replace links with the files they point to; model folders must contain regular files only.",
    ("https://github.com/protectai/modelscan/issues/218",),
)
FILE_UNREADABLE = rule(
    "MLG-FILE-UNREADABLE",
    "File could not be read",
    Severity.HIGH,
    "Check permissions and that the file still exists.",
    kind=FindingKind.ERROR,
)
ENGINE_ERROR = rule(
    "MLG-ENGINE-ERROR",
    "An analyser failed on this content",
    Severity.HIGH,
    "The file may be malformed on purpose. Do not load it; report the error to the mlgate maintainers.",
    kind=FindingKind.ERROR,
)
