"""The HTML report: one self-contained file (no script, no external resource), the verdict and
what blocked first, every finding with its remediation, attacker-controlled text escaped. It is
rendered in a real headless Chromium (Debian's package) and checked as a person sees it: the
text of the rendered page, and a screenshot that is not blank."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from tests.core.test_reports import sample_report
from tests.report.report_helpers import XSS_NAME, hostile_folder, scan_report

from mlgate.cli import main
from mlgate.model import Verdict
from mlgate.report import render
from mlgate.rescan.html import render_rescan_html
from mlgate.rescan.summary import BucketResult, Outcome, RescanSummary, VersionResult

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class _Doc(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("style", "title"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "title"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.text.append(" ".join(data.split()))


def parse(html: str) -> _Doc:
    d = _Doc()
    d.feed(html)
    return d


def assert_self_contained(html: str) -> None:
    doc = parse(html)
    names = [t for t, _ in doc.tags]
    for bad in ("script", "img", "svg", "iframe", "link", "object", "embed"):
        assert bad not in names
    for _, attrs in doc.tags:
        for k, v in attrs.items():
            assert not k.startswith("on"), (k, v)
            assert k not in ("src", "href", "action"), (k, v)
    assert not re.search(r"url\(|@import", html)
    csp = [a for t, a in doc.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp
    assert "default-src 'none'" in (csp[0]["content"] or "")


def chromium(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (infra/bootstrap.sh installs Debian's chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={tmp / 'chromium-profile'}"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120, check=False)


def test_summary_first_and_hostile_names_escaped(tmp_path: Path, default_policy_path: Path) -> None:
    report, _, _ = scan_report(tmp_path, default_policy_path)
    html = render([report], "html")
    assert_self_contained(html)
    assert XSS_NAME not in html  # never raw
    assert "&lt;img src=x onerror=alert(1)&gt;&lt;svg onload=alert(&#34;x&#34;)&gt;&amp;amp;.pkl" in html
    text = " ".join(parse(html).text)
    # Read in order: the verdict, then what blocked (the poisoned file, the dangerous call, the fix).
    head = text[: text.index("All findings")]
    assert head.startswith("BLOCKED")
    assert head.index(XSS_NAME) < head.index("model-scan at pre-publish")
    assert "posix.system" in head
    assert "What to do:" in head
    assert f"sha256:{report.manifests[0].manifest_sha256}" in text
    assert report.policy.digest in text


def test_waivers_and_other_verdicts_render() -> None:
    html = render([sample_report()], "html")
    assert_self_contained(html)
    assert "waived by E1 (reviewed; owner me; expires 2030-01-01)" in " ".join(parse(html).text)
    passing = sample_report().model_copy(update={"verdict": Verdict.PASS, "subjects": (), "reason": "ok"})
    text = " ".join(parse(render([passing], "html")).text)
    assert text.startswith("PASS")
    assert "Nothing blocked." in text


def test_rescan_html() -> None:
    now = dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.UTC)
    s = RescanSummary(
        started_at=now, finished_at=now + dt.timedelta(seconds=5), tracking_uri="http://127.0.0.1:5000",
        policy_name="default", policy_digest="sha256:" + "1" * 64,
        versions=(
            VersionResult(name="fraud<b>", version="3", outcome=Outcome.QUARANTINED, category="bytes-changed",
                          reason="model.pkl changed", removed_aliases=("production",)),
            VersionResult(name="fraud<b>", version="2", outcome=Outcome.CLEAN),
        ),
        buckets=(BucketResult(bucket="artifacts", verdict=Verdict.PASS),),
    )
    html = render_rescan_html(s)
    assert_self_contained(html)
    text = " ".join(parse(html).text)
    assert text.startswith("BLOCKED")
    assert "fraud<b> v3" in text
    assert "<b>" not in html
    assert "Stored bytes differ from the signed manifest" in text
    assert "Aliases removed: production" in text


def test_rendered_in_headless_chromium(tmp_path: Path, default_policy_path: Path) -> None:
    folder = hostile_folder(tmp_path)
    page = tmp_path / "report.html"
    assert main(["scan", "-p", str(default_policy_path), "-f", "html", "-o", str(page), str(folder)]) == 1
    html = page.read_text()
    assert_self_contained(html)

    dom = chromium(["--dump-dom", page.as_uri()], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = parse(dom.stdout)
    # Chromium parsed the page: the hostile name is text, not an element; no script, no image.
    assert not [t for t, _ in rendered.tags if t in ("script", "img", "svg")]
    seen = " ".join(rendered.text)
    assert seen.startswith("BLOCKED")
    assert XSS_NAME in seen
    assert "What blocked and why" in seen
    assert "What to do:" in seen

    shot = tmp_path / "report.png"
    res = chromium([f"--screenshot={shot}", "--window-size=1200,1400", page.as_uri()], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.exists()
    from PIL import Image

    img = Image.open(shot).convert("RGB")
    assert img.size == (1200, 1400)
    colours = img.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 50  # text, a red banner, tables: not a blank page
    # The banner at the top is the verdict's red.
    r, g, b = img.getpixel((1120, 30))
    assert (r > 150, g < 80, b < 80) == (True, True, True), (r, g, b)
    keep = os.environ.get("MLGATE_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
