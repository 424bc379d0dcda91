"""``mlgate policy``: validate and inspect policies."""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from mlgate.errors import ExitCode

# Policy sections under ``gates:`` that configure something other than a gate.
NON_GATE_SECTIONS = {"rescan": "mlgate.rescan.settings:RescanPolicy"}


@click.group()
def policy() -> None:
    """Validate and inspect policies."""


@policy.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
def validate(path: Path | None) -> int:
    """Validate a policy: its schema, its includes and every gate's settings."""
    from mlgate.errors import PolicyError
    from mlgate.gate import load_gate
    from mlgate.policy import CHECKPOINTS, PolicyErrors, default_policy_path, load_policy

    pol = load_policy(path or default_policy_path())
    gate_ids = sorted(
        {g for cp in CHECKPOINTS if cp in pol.doc.checkpoints for g in pol.gates_for(cp)} | set(pol.doc.gates)
    )
    problems: list[PolicyError] = []  # every problem of every section, not just the first
    for gid in gate_ids:
        try:
            if gid in NON_GATE_SECTIONS:  # settings of a component that is not a gate
                mod, _, attr = NON_GATE_SECTIONS[gid].partition(":")
                pol.gate_config(gid, getattr(importlib.import_module(mod), attr))
                continue
            gate = load_gate(gid)
            pol.gate_config(gid, gate.config_model)
        except PolicyError as e:
            problems.append(e)
    if "data-quality" in gate_ids and not any(str(p.field or "").startswith("gates.data-quality") for p in problems):
        from mlgate.gates.data_quality import validate_policy_suites

        try:
            validate_policy_suites(pol)  # every mapped suite exists and has a row-count lower bound
        except PolicyError as e:
            problems.append(e)
    if problems:
        raise PolicyErrors.combine(problems)
    click.echo(f"{pol.path}: valid policy {pol.name!r} ({pol.digest})", err=True)
    click.echo(
        f"  gates: {', '.join(gate_ids)}; {len(pol.allow_entries)} allowlist entries; "
        f"{len(pol.doc.exceptions)} exception(s), {len(pol.expired_exceptions())} expired",
        err=True,
    )
    return int(ExitCode.PASS)


@policy.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
def digest(path: Path | None) -> int:
    """Print the policy digest (what every report records)."""
    from mlgate.policy import default_policy_path, load_policy

    click.echo(load_policy(path or default_policy_path()).digest)
    return int(ExitCode.PASS)
