"""Clients of the outside systems are built in one place, ``mlgate.integrations`` (an MLflow
client by ``integrations.mlflow.mlflow_client``, boto3 sessions and clients by
``integrations.aws``): the retry, time-out and credential rules live there and nowhere else."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "mlgate"
CONSTRUCTORS = re.compile(r"\bMlflowClient\(|\bboto3\.(client|resource|Session|session\.Session)\(")


def test_no_client_is_built_outside_the_integrations() -> None:
    offenders = []
    for py in sorted(SRC.rglob("*.py")):
        if py.is_relative_to(SRC / "integrations"):
            continue
        for n, line in enumerate(py.read_text().splitlines(), 1):
            if CONSTRUCTORS.search(line):
                offenders.append(f"{py.relative_to(SRC.parent)}:{n}: {line.strip()}")
    assert not offenders, "build clients through mlgate.integrations:\n" + "\n".join(offenders)


def test_the_rule_sees_a_client_built_elsewhere() -> None:
    assert CONSTRUCTORS.search("    client = MlflowClient(tracking_uri=uri)")
    assert CONSTRUCTORS.search("s3 = boto3.session.Session().client('s3')")
    assert not CONSTRUCTORS.search("client = mlflow_client(uri)")
