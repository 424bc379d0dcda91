"""A full disk while a compressed model is decompressed for analysis (members larger than the
in-memory spool go to $TMPDIR): the scan never passes, says why in one line, and passes once
there is room. The disk is a real 1 MiB tmpfs (root only; skipped otherwise)."""

from __future__ import annotations

import gzip
import os
import pickle
import subprocess
import sys
from pathlib import Path


def _scan(target: Path, policy: Path, tmpdir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    return subprocess.run([sys.executable, "-m", "mlgate.cli", "scan", str(target), "-p", str(policy)],
                          capture_output=True, text=True, env=env, timeout=300, check=False)


def test_full_disk_while_decompressing_never_passes(tmp_path: Path, small_disk: Path,
                                                     default_policy_path: Path) -> None:
    model = tmp_path / "model.pkl.gz"
    # A benign pickle of 24 MiB (random bytes: a normal compression ratio): more than the 8 MiB kept
    # in memory, so it spills to $TMPDIR.
    model.write_bytes(gzip.compress(pickle.dumps({"w": os.urandom(24 * 1024 * 1024)}, protocol=4)))
    r = _scan(model, default_policy_path, small_disk)
    # an error of the machine (exit 2), not a finding about the file (fail would quarantine it in a rescan)
    assert r.returncode == 2, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    assert "Traceback" not in r.stderr
    out = r.stdout + r.stderr
    assert "No space left on device" in out or "ENOSPC" in out, out[-2000:]
    assert not [p for p in small_disk.iterdir()], "the spill file was left on the full disk"
    roomy = tmp_path / "tmp"
    roomy.mkdir()
    r = _scan(model, default_policy_path, roomy)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
