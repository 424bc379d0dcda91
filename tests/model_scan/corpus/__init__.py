"""The model-scan corpus: generators for inert malicious samples (one per published technique,
see ``/work/shared/corpus/TECHNIQUES.md``) and realistic benign files produced by the real
libraries.

Nothing in this package loads a sample. Malicious pickles are assembled opcode by opcode
(:mod:`._pickle`) or produced with ``pickle.dumps`` of ``__reduce__`` objects (dumping never runs
the payload). Every payload is inert: it runs ``true`` or creates a *canary* file under a
directory the caller owns, so a test can prove nothing executed.

Usage::

    from model_scan.corpus import MALICIOUS, BENIGN, generate
    paths = generate(MALICIOUS, out_dir, canary_dir)   # {sample id: path to scan}
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Sample:
    id: str
    family: str  # "<section>.<family>", e.g. "1.gadget", "3.zip"; section = TECHNIQUES.md section
    title: str
    filename: str  # written as <out>/<id>/<filename>; may be a directory (model folders)
    build: Callable[[Path, Path], None] = field(repr=False, compare=False)  # build(target, canary)
    malicious: bool = True
    reference: str = ""  # advisory / write-up URL
    advisory: str = ""  # CVE / GHSA / issue id when there is one
    rules: tuple[str, ...] = ()  # a blocking finding id must start with one of these
    container: bool = False  # hostile container: ERROR/INCOMPLETE also count as blocked
    requires: tuple[str, ...] = ()  # optional modules; sample skipped when one is missing

    @property
    def section(self) -> str:
        return self.family.split(".", 1)[0]

    def available(self) -> bool:
        return all(importlib.util.find_spec(m) is not None for m in self.requires)


# Test-only libraries some supported Pythons lack (torch's CPU wheel is on this machine for 3.11
# only; docs/ci.md). Samples built with them are skipped, never silently passed, where missing.
OPTIONAL_TEST_MODULES = frozenset({"torch"})
UNAVAILABLE: dict[str, str] = {}


def generate(samples: Iterable[Sample], out_dir: Path, canary_dir: Path) -> dict[str, Path]:
    """Write every available sample under ``out_dir``; return {id: path to scan}."""
    out: dict[str, Path] = {}
    canary_dir.mkdir(parents=True, exist_ok=True)
    for s in samples:
        if not s.available():
            continue
        target = out_dir / s.id / s.filename
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            s.build(target, canary_dir / f"{s.id}.canary")
        except ModuleNotFoundError as e:
            if e.name not in OPTIONAL_TEST_MODULES:
                raise
            UNAVAILABLE[s.id] = f"{e.name} is not installed"  # the sample's test skips
            continue
        if not (target.exists() or target.is_symlink()):
            raise RuntimeError(f"generator {s.id} wrote nothing at {target}")
        out[s.id] = target
    return out


def all_samples() -> tuple[list[Sample], list[Sample]]:
    from . import benign, malicious

    return list(malicious.MALICIOUS), list(benign.BENIGN)
