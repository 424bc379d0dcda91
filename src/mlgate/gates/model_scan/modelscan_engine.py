"""modelscan as a second engine, through its Python API, with everything it says mapped:
issues -> findings, errors -> error findings, skips -> recorded (and incomplete when no other
engine analysed the file). Each file is scanned on its own so that modelscan never walks into
symlinks (it follows them) and so results map to files exactly."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

from mlgate.gates.model_scan.config import ModelScanConfig
from mlgate.gates.model_scan.context import ScanContext
from mlgate.gates.model_scan.rules import rule
from mlgate.model import FindingKind, Severity

log = logging.getLogger(__name__)

R_MS_ISSUE = rule(
    "MLG-MODELSCAN-ISSUE",
    "modelscan reports an unsafe operator",
    Severity.HIGH,
    "Do not load the file; see modelscan's severity levels.",
    ("https://github.com/protectai/modelscan/blob/main/docs/severity_levels.md",),
)
R_MS_ERROR = rule(
    "MLG-MODELSCAN-ERROR",
    "modelscan failed on this file",
    Severity.HIGH,
    "modelscan could not parse the file; mlgate treats that as an error unless the policy says otherwise.",
    kind=FindingKind.ERROR,
)
R_MS_MISSING = rule(
    "MLG-MODELSCAN-UNAVAILABLE",
    "modelscan is not installed or failed to start",
    Severity.HIGH,
    "Install mlgate with its pinned dependencies (modelscan==0.8.8), or set gates.model-scan.modelscan.required: false.",
    kind=FindingKind.ERROR,
)

_SEV = {"CRITICAL": Severity.CRITICAL, "HIGH": Severity.HIGH, "MEDIUM": Severity.MEDIUM, "LOW": Severity.LOW}
_ZIP_MAGIC = b"PK\x03\x04"


COMPRESSED_LAYERS = frozenset({"gzip", "zlib", "bz2", "xz", "lzma", "zstd", "7z"})


def _known_gap(err: dict[str, Any], ctx: ScanContext) -> bool:
    """modelscan parse errors on constructs it does not implement, where mlgate's own engine read
    the whole file: joblib's inline numpy buffers and compressed pickles (modelscan reads the raw
    bytes as opcodes). Any finding, error or gap of mlgate's own keeps the file from passing."""
    if str(err.get("category")) not in ("PICKLE_GENOPS", "MAGIC_NUMBER", "MODEL_SCAN"):
        return False
    own_gaps = any(f.kind.value != "issue" for f in ctx.findings)
    if own_gaps or not ctx.coverage:
        return False
    return bool(ctx.details.get("joblib_inline_arrays")) or bool(COMPRESSED_LAYERS & set(ctx.formats))


def modelscan_version() -> str | None:
    try:
        from modelscan._version import __version__

        return str(__version__)
    except Exception:
        return None


def run_modelscan(path: Path, ctx: ScanContext, config: ModelScanConfig, head: bytes) -> None:
    ms = config.modelscan
    if not ms.enabled:
        return
    try:
        from modelscan.modelscan import ModelScan
        from modelscan.settings import DEFAULT_SETTINGS
    except Exception as e:
        if ms.required:
            ctx.error(R_MS_MISSING, f"modelscan import failed: {e}")
        return
    size = path.stat().st_size
    if size > ms.max_pickle_bytes and not head.startswith(_ZIP_MAGIC):
        ctx.details["modelscan"] = {
            "status": "not run",
            "why": f"{size} bytes > max_pickle_bytes; modelscan reads "
            "pickle arguments into memory (mlgate's engine covered the file)",
        }
        return
    settings = copy.deepcopy(DEFAULT_SETTINGS)  # never mutate modelscan's module-level defaults
    try:
        scanner = ModelScan(settings=settings)
        result: dict[str, Any] = scanner.scan(path)
    except Exception as e:  # modelscan itself crashed on the input
        ctx.error(R_MS_ERROR, f"modelscan crashed: {type(e).__name__}: {e}", engine="modelscan")
        return
    summary = result.get("summary", {})
    scanned = summary.get("scanned", {}).get("total_scanned", 0)
    skipped = summary.get("skipped", {}).get("skipped_files", []) if isinstance(summary.get("skipped"), dict) else []
    for issue in result.get("issues", []):
        sev = _SEV.get(str(issue.get("severity", "")).upper(), Severity.HIGH)
        op = f"{issue.get('module', '?')}.{issue.get('operator', '?')}"
        ctx.report(
            R_MS_ISSUE,
            f"modelscan: {issue.get('description', 'unsafe operator')} ({op})",
            severity=sev,
            engine="modelscan",
            details={k: str(v) for k, v in issue.items()},
        )
    errors = []
    for err in result.get("errors", []):
        if _known_gap(err, ctx):
            ctx.details.setdefault("modelscan_gaps", []).append(
                f"{err.get('category')}: {str(err.get('description', ''))[:300]}"
            )
            continue
        if str(err.get("category")) == "DEPENDENCY":
            # modelscan needs tensorflow for .keras/.pb: it cannot scan the format here. That is a
            # coverage gap (recorded), not a verdict; the file still needs mlgate's own coverage.
            ctx.details.setdefault("modelscan_gaps", []).append(str(err.get("description", ""))[:300])
            continue
        errors.append(err)
        ctx.error(
            R_MS_ERROR,
            f"modelscan: {err.get('category', 'error')}: {err.get('description', '')}",
            engine="modelscan",
            details={k: str(v) for k, v in err.items()},
        )
    status = "scanned" if scanned else "skipped"
    ctx.details["modelscan"] = {
        "status": status,
        "scanned": scanned,
        "skipped": [
            {"category": str(s.get("category")), "description": str(s.get("description"))}
            for s in skipped[:10]
            if isinstance(s, dict)
        ],
    }
    if scanned and not errors and not ctx.details.get("modelscan_gaps"):
        ctx.covered("modelscan", f"{scanned} file(s) scanned", engine="modelscan")
