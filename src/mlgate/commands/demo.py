"""``mlgate demo``: the README's first command.

The whole story on the embedded stack (moto S3 + mlflow server on 127.0.0.1, Prefect flows): a
clean run trains, publishes and deploys; a poisoned base model is blocked at pre-train; poisoned
training data is blocked at the data gate; an insecure bucket is blocked by the audit; an artifact
changed in S3 after publishing is blocked at pre-deploy. Exit 0 only if every case behaved as it
should. ``--scan-only`` shows just the model-file gate on a clean and a poisoned folder (no servers).

``--scenario llm`` runs the LLM example (:mod:`mlgate._dev.llm_demo`) through the same lifecycle: a
tiny Llama made locally, two LoRA adapters, a weighted merge, a GGUF export, registered with MLflow's
transformers flavour, deployed and smoke-tested; then six poisoned variants, each blocked at its
checkpoint.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import click

from mlgate.commands.common import get_policy
from mlgate.errors import ExitCode
from mlgate.model import Verdict


@click.command()
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the stack keeps its state and the demo its files (default: .work/demo, .work/demo-llm for --scenario llm).")
@click.option("--scan-only", is_flag=True, help="Only scan a generated clean and poisoned model folder.")
@click.option("--policy", "-p", "policy_path", type=click.Path(path_type=Path), default=None,
              help="Policy for --scan-only (the lifecycle demo uses the packaged local-stack.yaml).")
@click.option("--scenario", type=click.Choice(["sklearn", "llm"]), default="sklearn", show_default=True,
              help="sklearn: an iris classifier through train -> publish -> deploy and four blocked cases. "
                   "llm: a tiny Llama made locally, two LoRA adapters merged 0.7/0.3, GGUF export, registered "
                   "with MLflow's transformers flavour, deployed and smoke-tested; then six blocked cases "
                   "(needs the llm extra).")
def demo(workdir: Path | None, scan_only: bool, policy_path: Path | None, scenario: str) -> int:
    """Run the end-to-end demonstration; exit 0 only if every case behaves as it should."""
    if scan_only:
        return _scan_only(workdir, policy_path)
    import shutil

    from mlgate._dev.demo import run_demo

    wd = workdir or Path(".work/demo" if scenario == "sklearn" else ".work/demo-llm")
    if wd.exists() and workdir is None:
        shutil.rmtree(wd)  # the default work dir is the demo's own; a given one is kept
    def load_flows() -> object:
        from mlgate.orchestration import flows

        return flows

    if scenario == "llm":
        return _llm(wd.resolve(), load_flows)
    results = run_demo(wd.resolve(), load_flows, echo=lambda s: click.echo(s, err=True))
    click.echo("\ncase                                          expected                 actual                   ok")
    for r in results:
        click.echo(f"{r.name[:45]:45} {r.expected:24} {r.actual:24} {'yes' if r.ok else 'NO'}")
    ok = bool(results) and all(r.ok for r in results)
    click.echo("demo: every case behaved as it should" if ok else "demo: FAILED", err=True)
    return int(ExitCode.PASS if ok else ExitCode.FAIL)


def _llm(wd: Path, load_flows: Callable[[], object]) -> int:
    import importlib.util
    import time

    missing = [m for m in ("torch", "transformers", "peft", "gguf") if importlib.util.find_spec(m) is None]
    if missing:
        click.echo(f"demo: --scenario llm needs the llm extra ({', '.join(missing)} not installed): "
                   "pip install -e '.[all,llm]'", err=True)
        return int(ExitCode.ERROR)
    from mlgate._dev.llm_demo import print_table, run_llm_demo

    t = time.monotonic()
    run = run_llm_demo(wd, load_flows, echo=lambda s: click.echo(s, err=True))
    print_table(run, click.echo)
    click.echo(f"\nwall time {time.monotonic() - t:.0f} s (cases {run.seconds.get('total', 0):.0f} s)", err=True)
    click.echo("demo: every case behaved as it should" if run.ok else "demo: FAILED", err=True)
    return int(ExitCode.PASS if run.ok else ExitCode.FAIL)


def _scan_only(workdir: Path | None, policy_path: Path | None) -> int:
    from mlgate._dev.samples import write_clean_model, write_poisoned_model
    from mlgate.api import scan
    from mlgate.report import render

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
