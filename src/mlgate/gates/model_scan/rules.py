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
    cwe: tuple[str, ...] = field(default=())  # "CWE-502", ...
    advisories: tuple[str, ...] = field(default=())  # "CVE-2025-23304", "GHSA-xxxx-xxxx-xxxx", ...


RULES: dict[str, Rule] = {}

# Weakness classes by rule-id prefix, so that every rule carries a CWE without each analyser
# repeating it (the longest matching prefix wins; a rule may name its own).
CWE_BY_PREFIX: dict[str, tuple[str, ...]] = {
    "MLG-PKL-": ("CWE-502",),
    "MLG-NPY-OBJECT": ("CWE-502",),
    "MLG-NPY-MALFORMED": ("CWE-20",),
    "MLG-SKOPS-": ("CWE-502",),
    "MLG-MODELSCAN-": ("CWE-502",),
    "MLG-KERAS-": ("CWE-94",),
    "MLG-HF-": ("CWE-94",),
    "MLG-MLFLOW-": ("CWE-94", "CWE-502"),
    "MLG-TPL-": ("CWE-1336",),
    "MLG-TPL-DOS": ("CWE-400",),
    "MLG-CONFIG-": ("CWE-94",),
    "MLG-ARC-TRAVERSAL": ("CWE-22",),
    "MLG-ARC-LINK": ("CWE-59",),
    "MLG-ARC-BOMB": ("CWE-409",),
    "MLG-ARC-": ("CWE-20",),
    "MLG-ZIP-": ("CWE-20",),
    "MLG-COMP-": ("CWE-409",),
    "MLG-FILE-SPECIAL": ("CWE-59",),
    "MLG-FILE-BYTECODE": ("CWE-94",),
    "MLG-FILE-LIMIT": ("CWE-400",),
    "MLG-ST-": ("CWE-20",),
    "MLG-GGUF-": ("CWE-20",),
    "MLG-YAML-": ("CWE-776",),
    "MLG-ONNX-": ("CWE-20",),
    "MLG-TF-": ("CWE-94",),
    "MLG-TS-": ("CWE-94",),
    "MLG-EXEC-": ("CWE-94",),
    "MLG-SERVE-": ("CWE-94",),
    "MLG-ADVISORY-": ("CWE-1395",),
}
CWE_URL = "https://cwe.mitre.org/data/definitions/{}.html"


def advisory_url(advisory: str) -> str:
    if advisory.startswith("GHSA-"):
        return f"https://github.com/advisories/{advisory}"
    if advisory.startswith("PYSEC-"):
        return f"https://osv.dev/vulnerability/{advisory}"
    return f"https://nvd.nist.gov/vuln/detail/{advisory}"


def rule(
    id: str,
    title: str,
    severity: Severity,
    remediation: str,
    references: tuple[str, ...] = (),
    kind: FindingKind = FindingKind.ISSUE,
    *,
    cwe: tuple[str, ...] = (),
    advisories: tuple[str, ...] = (),
) -> Rule:
    """Declare a rule. Its CWE ids (given, or from :data:`CWE_BY_PREFIX`) and advisory ids are
    appended to ``references`` as URLs, so every finding carries them (JSON ``references``; SARIF
    rule tags ``external/cwe/cwe-N`` and properties, see ``mlgate.report.sarif``)."""
    if id in RULES:
        raise ValueError(f"duplicate rule id {id}")
    if not cwe:
        best = max((p for p in CWE_BY_PREFIX if id.startswith(p)), key=len, default=None)
        cwe = CWE_BY_PREFIX[best] if best else ()
    extra = tuple(CWE_URL.format(c.split("-", 1)[1]) for c in cwe) + tuple(advisory_url(a) for a in advisories)
    references = references + tuple(u for u in extra if u not in references)
    r = Rule(id, title, severity, remediation, references, kind, cwe, advisories)
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
