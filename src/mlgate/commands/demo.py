"""``mlgate demo``: the README's first command.

Today it shows the model-file gate at the pre-publish checkpoint on two generated folders, one
clean and one poisoned, and exits 0 only if the clean one passes and the poisoned one is blocked.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from mlgate.commands.common import get_policy
from mlgate.errors import ExitCode
from mlgate.model import Verdict


@click.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the sample folders (default: a temporary folder).",
)
@click.option("--policy", "-p", "policy_path", type=click.Path(path_type=Path), default=None)
def demo(workdir: Path | None, policy_path: Path | None) -> int:
    """Scan a generated clean model and a poisoned one; exit 0 only if both behave as they should."""
    from mlgate.api import scan
    from mlgate.report import render
    from mlgate.samples import write_clean_model, write_poisoned_model

    policy = get_policy(policy_path)
    with tempfile.TemporaryDirectory(prefix="mlgate-demo-") as tmp:
        base = workdir or Path(tmp)
        cases = [
            ("clean model", write_clean_model(base / "clean-model"), Verdict.PASS),
            ("poisoned model", write_poisoned_model(base / "poisoned-model"), Verdict.FAIL),
        ]
        ok = True
        for label, folder, expected in cases:
            report = scan([folder], checkpoint="pre-publish", policy=policy)
            click.echo(render([report], "console"), nl=False)
            good = report.verdict is expected
            ok &= good
            mark = "as expected" if good else f"UNEXPECTED (wanted {expected.value})"
            click.echo(f"==> pre-publish scan of the {label}: {report.verdict.value} ({mark})\n")
    click.echo("demo: every case behaved as it should" if ok else "demo: FAILED", err=True)
    return int(ExitCode.PASS if ok else ExitCode.FAIL)
