"""modelscan as a second engine, through its Python API, with everything it says mapped:
issues -> findings, errors -> error findings, skips -> recorded (and incomplete when no other
engine analysed the file). Each file is scanned on its own so that modelscan never walks into
symlinks (it follows them) and so results map to files exactly.

modelscan is optional (the ``modelscan`` extra; it declares Python < 3.13). mlgate's own engine
is primary. Policy ``gates.model-scan.modelscan``:

* ``required: false`` (default): when modelscan is not installed the file is judged by mlgate's
  engine alone, and the report says so (``tools.modelscan = "unavailable"``, a run note, and
  ``details.modelscan.status = "not installed"`` per file). A file that only modelscan could have
  analysed has no coverage and is ``incomplete`` (the gate's rule), never ``pass``.
* ``required: true``: modelscan missing is an error on every file (fail closed).

modelscan 0.8.8 with NumPy 2 fails on every ``.npy``/``.npz`` (``numpy.lib.format`` lost
``_check_version``). That error is recorded as a known gap only when mlgate's own engine fully
covered the file (NumPy's format is analysed by mlgate's engine); otherwise it stays an error.
"""

from __future__ import annotations

import copy
import functools
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
    "modelscan is required by the policy but is not installed or failed to start",
    Severity.HIGH,
    "Install the second engine (pip install 'mlgate[modelscan]' on Python 3.11/3.12), or set "
    "gates.model-scan.modelscan.required: false to rely on mlgate's own engine.",
    kind=FindingKind.ERROR,
)

_SEV = {"CRITICAL": Severity.CRITICAL, "HIGH": Severity.HIGH, "MEDIUM": Severity.MEDIUM, "LOW": Severity.LOW}
_ZIP_MAGIC = b"PK\x03\x04"


COMPRESSED_LAYERS = frozenset({"gzip", "zlib", "bz2", "xz", "lzma", "zstd", "7z", "joblib-zfile"})


# modelscan 0.8.8's NumPy scanner calls numpy.lib.format._check_version, gone in NumPy 2.
NUMPY2_ERROR_MARK = "_check_version"


def _mlgate_covered_fully(ctx: ScanContext) -> bool:
    """mlgate's own engine positively analysed the file and reported no error or gap of its own
    (issues are fine: they block on their own)."""
    own_gaps = any(f.kind.value != "issue" for f in ctx.findings)
    return not own_gaps and any(c.engine == "mlgate" for c in ctx.coverage)


def _numpy2_gap(err: dict[str, Any]) -> bool:
    return NUMPY2_ERROR_MARK in str(err.get("description", ""))


def _known_gap(err: dict[str, Any], ctx: ScanContext) -> bool:
    """modelscan errors on constructs it does not implement, where mlgate's own engine read the
    whole file: joblib's inline numpy buffers and compressed pickles (modelscan reads the raw bytes
    as opcodes), raw weights a model beside them names (same), the nested torch zip of a
    torch.export archive (NESTED_ZIP), and .npy/.npz under NumPy 2 (modelscan 0.8.8 calls a NumPy 1
    private function).
    Any finding, error or gap of mlgate's own keeps the file from passing."""
    if not _mlgate_covered_fully(ctx):
        return False
    if _numpy2_gap(err) and "npy" in ctx.formats:
        return True
    if str(err.get("category")) == "NESTED_ZIP" and "torch-export" in ctx.formats:
        # torch.export.save writes sample_inputs/model.pt (a torch zip) inside the .pt2: modelscan 0.8.8
        # refuses nested zips; mlgate's walker analysed that member (its pickle included) and the program.
        return True
    if "external-weights" in ctx.formats and str(err.get("category")) in ("PICKLE_GENOPS", "MAGIC_NUMBER"):
        # ONNX external data / OpenVINO .bin (formats/sidecars.py): raw tensor bytes the loader reads at
        # offsets, never unpickles; modelscan reads .data/.bin as pickle opcodes. mlgate's storage check ran.
        return True
    if str(err.get("category")) not in ("PICKLE_GENOPS", "MAGIC_NUMBER", "MODEL_SCAN"):
        return False
    return bool(ctx.details.get("joblib_inline_arrays")) or bool(COMPRESSED_LAYERS & set(ctx.formats))


def modelscan_version() -> str | None:
    try:
        from modelscan._version import __version__

        return str(__version__)
    except Exception:
        return None


@functools.cache
def modelscan_problem() -> str | None:
    """Why modelscan cannot run here (None when it can)."""
    try:
        from modelscan.modelscan import ModelScan  # noqa: F401
        from modelscan.settings import DEFAULT_SETTINGS  # noqa: F401
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    return None


def unavailable_note(problem: str) -> str:
    return (
        f"modelscan (second engine) is not available ({problem}); files were judged by mlgate's own "
        "engine alone (policy gates.model-scan.modelscan.required: false). Install it with "
        "pip install 'mlgate[modelscan]' (Python 3.11/3.12)."
    )


def run_modelscan(path: Path, ctx: ScanContext, config: ModelScanConfig, head: bytes) -> None:
    ms = config.modelscan
    if not ms.enabled:
        ctx.details["modelscan"] = {"status": "disabled by policy"}
        return
    problem = modelscan_problem()
    if problem is not None:
        if ms.required:
            ctx.error(R_MS_MISSING, f"modelscan is required by the policy but cannot run: {problem}")
        else:
            ctx.details["modelscan"] = {"status": "not installed", "why": problem}
        return
    from modelscan.modelscan import ModelScan
    from modelscan.settings import DEFAULT_SETTINGS

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
