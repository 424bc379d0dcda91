"""Clients of the outside systems (in src/, flows/ and plugins/) are built in one place, ``mlgate.integrations`` (an MLflow
client by ``integrations.mlflow.mlflow_client``, boto3 sessions and clients by
``integrations.aws``): the retry, time-out and credential rules live there and nowhere else.
botocore itself (its ``Config``, its exceptions) is imported there only too: elsewhere,
``aws.config(...)``, ``aws.AWS_ERRORS``/``aws.SERVICE_ERRORS`` and the ``aws`` predicates."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "mlgate"
INTEGRATIONS = SRC / "integrations"
# Everything of ours that runs: the package, the Prefect flows, the plugins.
SCANNED = (ROOT / "src", ROOT / "flows", ROOT / "plugins")
CONSTRUCTORS = re.compile(r"\bMlflowClient\(|\bboto3\.(client|resource|Session|session\.Session)\(")


def test_no_client_is_built_outside_the_integrations() -> None:
    offenders = []
    for py in sorted(p for root in SCANNED for p in root.rglob("*.py")):
        if py.is_relative_to(INTEGRATIONS) or ".mypy_cache" in py.parts or "build" in py.parts:
            continue
        for n, line in enumerate(py.read_text().splitlines(), 1):
            if CONSTRUCTORS.search(line):
                offenders.append(f"{py.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, "build clients through mlgate.integrations:\n" + "\n".join(offenders)


def test_the_rule_sees_a_client_built_elsewhere() -> None:
    assert CONSTRUCTORS.search("    client = MlflowClient(tracking_uri=uri)")
    assert CONSTRUCTORS.search("s3 = boto3.session.Session().client('s3')")
    assert not CONSTRUCTORS.search("client = mlflow_client(uri)")


def botocore_imports(source: str) -> list[tuple[int, str]]:
    """``(line, statement)`` of every ``import botocore...`` / ``from botocore... import`` in
    ``source``, at any depth (inside functions, ``TYPE_CHECKING`` blocks, ``try`` ...)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if any(n == "botocore" or n.startswith("botocore.") for n in names):
            found.append((node.lineno, ast.unparse(node)))
    return sorted(found)


def test_botocore_is_imported_only_in_the_integrations() -> None:
    offenders = []
    for top in SCANNED:
        for py in sorted(top.rglob("*.py")):
            if py.is_relative_to(INTEGRATIONS):
                continue
            for n, stmt in botocore_imports(py.read_text()):
                offenders.append(f"{py.relative_to(ROOT)}:{n}: {stmt}")
    assert not offenders, (
        "botocore is imported in mlgate.integrations.aws only (aws.config(...) for a client "
        "configuration, aws.AWS_ERRORS / aws.SERVICE_ERRORS in except clauses, aws.classify() or "
        "aws.credentials_problem() / connection_problem() / setup_problem() for decisions):\n"
        + "\n".join(offenders)
    )


def test_the_rule_sees_botocore_imported_elsewhere() -> None:
    source = (
        "import botocore\n"
        "import os, botocore.session as bs\n"
        "def f():\n"
        "    from botocore.exceptions import ClientError\n"
        "    from botocore import UNSIGNED\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from botocore.config import Config\n"
        "import botocorex\n"
        "from .botocore import x\n"
        "from mlgate.integrations import aws\n"
    )
    assert [n for n, _ in botocore_imports(source)] == [1, 2, 4, 5, 8]
