"""Real scan reports to render: a folder with a hostile file name, a signature file and a
malicious pickle (written as bytes, never loaded), a clean single file, and a clean folder."""

from __future__ import annotations

from pathlib import Path

from mlgate.api import scan
from mlgate.model import Report
from mlgate.samples import write_clean_model

# A pickle that would call posix.system("true") if loaded. Never loaded: only scanned.
EVIL = b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00true\x85R."
XSS_NAME = '<img src=x onerror=alert(1)><svg onload=alert("x")>&amp;.pkl'


def hostile_folder(base: Path) -> Path:
    d = base / "hostile-model"
    write_clean_model(d)
    (d / XSS_NAME).write_bytes(EVIL)
    (d / "model.sig").write_text('{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}')
    return d


def scan_report(base: Path, policy: Path) -> tuple[Report, Path, Path]:
    folder = hostile_folder(base)
    single = write_clean_model(base / "single") / "config.json"
    return scan([folder, single], checkpoint="pre-publish", policy=policy), folder, single
