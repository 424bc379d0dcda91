"""The ``mlgate`` command. This is the one place that maps outcomes to exit codes:

====  ==========  ===========================================================
code  name        meaning
====  ==========  ===========================================================
0     pass        everything checked was positively verified
1     fail        something was blocked (a finding at or above the threshold)
2     error       a scanner, the policy, a store or the network failed
3     incomplete  something could not be checked (unsupported, skipped, limits)
4     usage       the command line was wrong
====  ==========  ===========================================================

Any exception that is not one of mlgate's typed errors is a bug or an outage nobody classified: it
exits 2 with one line on stderr; ``mlgate --debug ...`` (or ``MLGATE_DEBUG=1``) adds the traceback.
Commands that talk to a server give up within a bounded time (see :mod:`mlgate.integrations.servers`).

Machine output (JSON, SARIF) goes to stdout or ``--output``; everything else to stderr.
Subcommands are imported lazily so that ``mlgate scan`` never imports Great Expectations,
Prefect or MLflow.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Any

import click

from mlgate import __version__
from mlgate.errors import ExitCode, MlgateError

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    # name: (module:attr, one-line help shown without importing the module)
    "scan": ("mlgate.commands.scan:scan", "Scan model files or folders (the model-file gate)."),
    "check-data": (
        "mlgate.commands.check_data:check_data",
        "Validate a training dataset against an expectation suite.",
    ),
    "audit-s3": ("mlgate.commands.audit_s3:audit_s3", "Audit S3 buckets for misconfigurations."),
    "audit-mlflow": ("mlgate.commands.audit_mlflow:audit_mlflow", "Audit a running MLflow server's security posture."),
    "policy": ("mlgate.commands.policy:policy", "Validate and inspect policies."),
    "allowlist": ("mlgate.commands.allowlist:allowlist", "Build allowlist entries from the real libraries."),
    "samples": ("mlgate.commands.samples:samples", "Write inert sample model folders (clean and poisoned)."),
    "demo": ("mlgate.commands.demo:demo", "Run the end-to-end demonstration on the embedded stack."),
    "hooks": ("mlgate.commands.hooks:hooks", "MLflow registry webhooks: receiver, worker, registration."),
    "rescan": ("mlgate.commands.rescan:rescan", "Re-verify and rescan every registered version now; quarantine failures."),
    "release": ("mlgate.commands.release:release", "Re-verify a quarantined version and release it."),
    "schedule": ("mlgate.commands.schedule:schedule", "Serve the weekly rescan on a cron schedule (no work pool needed)."),
    "run": ("mlgate.commands.run:run", "Run a pipeline's gated lifecycle, train, publish or deploy flow."),
    "stack": ("mlgate.commands.stack:stack", "Start, stop and inspect the embedded local stack."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n, (target, _) in SUBCOMMANDS.items() if _importable(target))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = SUBCOMMANDS.get(cmd_name)
        if entry is None:
            return None
        mod_name, attr = entry[0].split(":")
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as e:
            if e.name == mod_name:
                return None
            raise
        cmd: click.Command = getattr(mod, attr)
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(n, SUBCOMMANDS[n][1]) for n in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _importable(target: str) -> bool:
    import importlib.util

    mod = target.split(":")[0]
    try:
        return importlib.util.find_spec(mod) is not None
    except ModuleNotFoundError:
        return False


_DEBUG = False


def _debug() -> bool:
    return _DEBUG or os.environ.get("MLGATE_DEBUG", "") not in ("", "0", "false")


def one_line(e: BaseException) -> str:
    """The first non-empty line of an exception's message (a traceback never reaches the user)."""
    text = str(e).strip()
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    more = " ..." if len(text.splitlines()) > 1 else ""
    return f"{first[:400]}{more}" if first else type(e).__name__


def _traceback_if_debug() -> None:
    if _debug():
        import traceback

        traceback.print_exc(file=sys.stderr)


EPILOG = "Exit codes: 0 pass, 1 fail, 2 error, 3 incomplete, 4 usage. Reports go to stdout or --output; logs to stderr."


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlgate")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.option("--debug", is_flag=True, envvar="MLGATE_DEBUG",
              help="On an error, print the traceback (and Prefect's logs) instead of one line.")
def cli(verbose: int, debug: bool) -> None:
    """mlgate: security gates for the ML model lifecycle (scan, data, S3, registry)."""
    global _DEBUG
    _DEBUG = debug
    if debug:
        os.environ["MLGATE_DEBUG"] = "1"
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(
        level=max(level, logging.DEBUG), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )


def main(argv: list[str] | None = None) -> int:
    global _DEBUG
    _DEBUG = False
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    from mlgate.integrations.servers import apply_default_bounds

    apply_default_bounds()
    try:
        rv: Any = cli.main(args=argv, prog_name="mlgate", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as e:
        click.echo(e.ctx.get_help(), err=True)
        return int(ExitCode.USAGE)
    except click.UsageError as e:
        e.show(file=sys.stderr)
        return int(ExitCode.USAGE)
    except click.exceptions.Exit as e:  # --help / --version
        return int(e.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        return int(ExitCode.ERROR)
    except MlgateError as e:
        _traceback_if_debug()
        click.echo(f"mlgate: {e}", err=True)
        return int(e.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return int(ExitCode.ERROR)
    except Exception as e:  # anything unclassified: exit 2, one line (the contract), traceback on --debug
        _traceback_if_debug()
        hint = "" if _debug() else " (run with --debug for the traceback)"
        click.echo(f"mlgate: error: {type(e).__name__}: {one_line(e)}{hint}", err=True)
        return int(ExitCode.ERROR)
    if rv is None:
        return int(ExitCode.PASS)
    return int(rv)


def entrypoint() -> None:  # pragma: no cover
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
