"""Measure mlgate (default policy) and modelscan 0.8.8 alone on the model-scan corpus.

Generates every malicious and benign sample of ``tests/model_scan/corpus`` into a temporary
directory (nothing is ever loaded), scans each one with both tools and prints:

* overall: malicious blocked %, benign passed %, and modelscan's own outcome counts
  (issues / errors / skipped / "no issues");
* a per-family breakdown;
* every sample mlgate gets wrong (with the blocking rule ids), and the machine it ran on;
* the same figures, separately, for the files made by the real libraries
  (``tests/model_scan/realworld``: benign files, and each one holding a pickle with a payload
  injected). "Made by us" is the generated corpus above.

mlgate "blocks" a sample when its verdict is not PASS (FAIL, ERROR or INCOMPLETE all stop the
pipeline); modelscan "flags" a sample when it reports at least one issue. A benign sample passes
mlgate when the verdict is PASS, and passes modelscan when it reports no issue.

    .venv/bin/python bench/corpus_eval.py [--keep DIR] [--json FILE] [--list-modelscan-misses]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _machine import cpu_model  # noqa: E402 - bench/ is on sys.path when a bench script runs
from tests.model_scan.corpus import Sample, generate  # noqa: E402
from tests.model_scan.corpus.benign import BENIGN  # noqa: E402
from tests.model_scan.corpus.malicious import MALICIOUS  # noqa: E402

from mlgate.api import scan  # noqa: E402
from mlgate.model import Verdict  # noqa: E402
from mlgate.policy import load_policy  # noqa: E402


@dataclass
class Outcome:
    sample: Sample
    mlgate: str = ""  # pass | fail | error | incomplete
    mlgate_rules: list[str] = field(default_factory=list)
    modelscan: str = ""  # issues | errors | skipped | no-issues
    mlgate_s: float = 0.0
    modelscan_s: float = 0.0

    @property
    def mlgate_ok(self) -> bool:
        blocked = self.mlgate != Verdict.PASS.value
        return blocked if self.sample.malicious else not blocked

    @property
    def modelscan_ok(self) -> bool:
        flagged = self.modelscan == "issues"
        return flagged if self.sample.malicious else not flagged


def modelscan_outcome(path: Path) -> str:
    from modelscan.modelscan import ModelScan

    result = ModelScan().scan(str(path))  # a fresh instance (and settings) per file
    if result.get("issues"):
        return "issues"
    if result.get("errors"):
        return "errors"
    if not result.get("summary", {}).get("scanned", {}).get("total_scanned"):
        return "skipped"
    return "no-issues"


def machine() -> dict[str, str]:
    cpu = cpu_model()
    versions = {}
    for dist in ("mlgate", "modelscan", "torch", "numpy", "scikit-learn", "joblib", "pandas", "safetensors", "skops"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "-"
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "python": platform.python_version(),
            "platform": platform.platform(), **versions}


def pct(n: int, d: int) -> str:
    return f"{100.0 * n / d:5.1f}%" if d else "   n/a"


def run(work: Path, list_modelscan: bool) -> dict[str, Any]:
    logging.getLogger("modelscan").setLevel(logging.CRITICAL)
    policy = load_policy(REPO / "policies" / "default.yaml")
    canaries = work / "canaries"
    t0 = time.perf_counter()
    mal = generate(MALICIOUS, work / "malicious", canaries)
    ben = generate(BENIGN, work / "benign", canaries)
    gen_s = time.perf_counter() - t0
    outcomes: list[Outcome] = []
    for samples, paths in ((MALICIOUS, mal), (BENIGN, ben)):
        for s in samples:
            if s.id not in paths:
                continue
            o = Outcome(s)
            t = time.perf_counter()
            r = scan(paths[s.id], policy=policy)
            o.mlgate_s = time.perf_counter() - t
            o.mlgate = r.verdict.value
            o.mlgate_rules = sorted({f.id for sub in r.subjects for f in sub.findings if f.blocking})
            t = time.perf_counter()
            try:
                o.modelscan = modelscan_outcome(paths[s.id])
            except Exception as e:
                o.modelscan = f"errors ({type(e).__name__})"
            o.modelscan_s = time.perf_counter() - t
            outcomes.append(o)
    leaked = sorted(p.name for p in canaries.iterdir()) if canaries.exists() else []

    m = [o for o in outcomes if o.sample.malicious]
    b = [o for o in outcomes if not o.sample.malicious]
    out: list[str] = []
    w = out.append
    w("made by us (tests/model_scan/corpus):")
    w(f"model-scan corpus: {len(m)} malicious samples ({len({o.sample.family for o in m})} families), "
      f"{len(b)} benign samples; generated in {gen_s:.1f}s")
    w("")
    w(f"{'':34s}{'mlgate (default policy)':>26s}{'modelscan 0.8.8 alone':>26s}")
    w(f"{'malicious blocked':34s}{sum(o.mlgate_ok for o in m):>9d}/{len(m):<4d}{pct(sum(o.mlgate_ok for o in m), len(m)):>13s}"
      f"{sum(o.modelscan_ok for o in m):>9d}/{len(m):<4d}{pct(sum(o.modelscan_ok for o in m), len(m)):>13s}")
    w(f"{'benign passed':34s}{sum(o.mlgate_ok for o in b):>9d}/{len(b):<4d}{pct(sum(o.mlgate_ok for o in b), len(b)):>13s}"
      f"{sum(o.modelscan_ok for o in b):>9d}/{len(b):<4d}{pct(sum(o.modelscan_ok for o in b), len(b)):>13s}")
    w(f"{'total scan time (s)':34s}{sum(o.mlgate_s for o in outcomes):>26.1f}"
      f"{sum(o.modelscan_s for o in outcomes):>26.1f}")
    w("")
    w("mlgate verdicts      malicious: " + ", ".join(
        f"{v} {sum(o.mlgate == v for o in m)}" for v in ("fail", "error", "incomplete", "pass")))
    w("                     benign:    " + ", ".join(
        f"{v} {sum(o.mlgate == v for o in b)}" for v in ("pass", "fail", "error", "incomplete")))
    cats = ("issues", "errors", "skipped", "no-issues")
    w("modelscan outcomes   malicious: " + ", ".join(
        f"{c} {sum(o.modelscan.startswith(c) for o in m)}" for c in cats))
    w("                     benign:    " + ", ".join(
        f"{c} {sum(o.modelscan.startswith(c) for o in b)}" for c in cats))
    w("")
    w(f"{'malicious family':24s}{'n':>4s}{'mlgate blocked':>17s}{'(FAIL)':>8s}{'modelscan flagged':>20s}")
    fam: dict[str, list[Outcome]] = defaultdict(list)
    for o in m:
        fam[o.sample.family].append(o)
    for f in sorted(fam):
        os_ = fam[f]
        w(f"{f:24s}{len(os_):>4d}{sum(o.mlgate_ok for o in os_):>10d} {pct(sum(o.mlgate_ok for o in os_), len(os_))}"
          f"{sum(o.mlgate == 'fail' for o in os_):>8d}"
          f"{sum(o.modelscan_ok for o in os_):>12d} {pct(sum(o.modelscan_ok for o in os_), len(os_))}")
    w("")
    w(f"{'benign family':24s}{'n':>4s}{'mlgate passed':>17s}{'':>8s}{'modelscan no issue':>20s}")
    fam = defaultdict(list)
    for o in b:
        fam[o.sample.family].append(o)
    for f in sorted(fam):
        os_ = fam[f]
        w(f"{f:24s}{len(os_):>4d}{sum(o.mlgate_ok for o in os_):>10d} {pct(sum(o.mlgate_ok for o in os_), len(os_))}"
          f"{'':>8s}{sum(o.modelscan_ok for o in os_):>12d} {pct(sum(o.modelscan_ok for o in os_), len(os_))}")
    w("")
    misses = [o for o in m if not o.mlgate_ok]
    fps = [o for o in b if not o.mlgate_ok]
    weak = [o for o in m if o.mlgate_ok and o.mlgate != "fail"]
    w(f"mlgate misses (malicious that PASS): {len(misses)}")
    for o in misses:
        w(f"  {o.sample.id}: {o.sample.title}")
    w(f"mlgate blocks without FAIL (ERROR/INCOMPLETE): {len(weak)}")
    for o in weak:
        w(f"  {o.sample.id}: {o.mlgate} {' '.join(o.mlgate_rules)}")
    w(f"mlgate false positives (benign not PASS): {len(fps)}")
    for o in fps:
        w(f"  {o.sample.id}: {o.mlgate} {' '.join(o.mlgate_rules)}")
    if list_modelscan:
        w("modelscan misses (malicious without issues):")
        for o in m:
            if not o.modelscan_ok:
                w(f"  {o.sample.id}: {o.modelscan}")
    w(f"payloads executed during the run: {len(leaked)} {leaked if leaked else ''}")
    w("")
    real = realworld(policy, work / "realworld-counterparts")
    out.extend(real["lines"])
    w("")
    w("machine: " + ", ".join(f"{k}={v}" for k, v in machine().items()))
    print("\n".join(out))
    return {
        "realworld": real["samples"],
        "machine": machine(),
        "samples": [{"id": o.sample.id, "family": o.sample.family, "malicious": o.sample.malicious,
                     "mlgate": o.mlgate, "mlgate_rules": o.mlgate_rules, "modelscan": o.modelscan,
                     "mlgate_s": round(o.mlgate_s, 4), "modelscan_s": round(o.modelscan_s, 4)} for o in outcomes],
        "canaries": leaked,
    }


def realworld(policy: Any, work: Path) -> dict[str, Any]:
    """The corpus made by the real libraries (tests/model_scan/realworld): every committed benign
    file, and a malicious counterpart (payload injected) of every file that holds a pickle."""
    from tests.model_scan.realworld import FILES, inject, inject_torch_zip, manifest, npy_object_payload

    man = manifest()
    work.mkdir(parents=True, exist_ok=True)
    benign: dict[str, str] = {}
    rules: dict[str, list[str]] = {}
    mal: dict[str, str] = {}
    by_set: dict[str, list[bool]] = defaultdict(list)
    by_maker: dict[str, list[bool]] = defaultdict(list)
    for rel, meta in man["files"].items():
        r = scan(FILES / rel, policy=policy)
        benign[rel] = r.verdict.value
        ok = r.verdict is Verdict.PASS
        by_set[meta["set"]].append(ok)
        by_maker[meta["maker"]].append(ok)
        if not ok:
            rules[rel] = sorted({f.id for sub in r.subjects for f in sub.findings if f.blocking})
        data = (FILES / rel).read_bytes()
        bad = inject(data) or npy_object_payload(data)
        if bad is None and data.startswith(b"PK\x03\x04") and rel.endswith((".pt", ".pth", ".bin", ".ckpt")):
            bad = inject_torch_zip(data)
        if bad is not None:
            target = work / rel.replace("/", "__")
            target.write_bytes(bad)
            mal[rel] = scan(target, policy=policy).verdict.value
    n_ok = sum(v == "pass" for v in benign.values())
    m_ok = sum(v != "pass" for v in mal.values())
    lines = ["made by the real libraries (tests/model_scan/realworld, MANIFEST.json):",
             f"{'benign passed':34s}{n_ok:>9d}/{len(benign):<4d}{pct(n_ok, len(benign)):>13s}",
             f"{'malicious counterparts blocked':34s}{m_ok:>9d}/{len(mal):<4d}{pct(m_ok, len(mal)):>13s}"
             f"   (FAIL {sum(v == 'fail' for v in mal.values())})"]
    for title, groups in (("library-version set", by_set), ("maker", by_maker)):
        lines.append(f"  by {title}:")
        for k in sorted(groups):
            g = groups[k]
            lines.append(f"    {k:30s}{sum(g):>5d}/{len(g):<4d}{pct(sum(g), len(g)):>9s}")
    lines.append(f"  real-library benign files not passing: {len(rules)}")
    for rel, ids in sorted(rules.items()):
        lines.append(f"    {rel}: {benign[rel]} {' '.join(ids)}")
    for rel, v in sorted(mal.items()):
        if v == "pass":
            lines.append(f"    MISSED counterpart {rel}")
    return {"lines": lines, "samples": {"benign": benign, "malicious_counterparts": mal}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keep", type=Path, help="generate into this directory and keep it")
    ap.add_argument("--json", type=Path, help="also write per-sample results as JSON")
    ap.add_argument("--list-modelscan-misses", action="store_true")
    args = ap.parse_args(argv)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        data = run(args.keep, args.list_modelscan_misses)
    else:
        with tempfile.TemporaryDirectory(prefix="mlgate-corpus-") as d:
            data = run(Path(d), args.list_modelscan_misses)
    if args.json:
        args.json.write_text(json.dumps(data, indent=2))
    return 1 if data["canaries"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
