"""The MLflow server posture gate (``mlflow-posture``).

Layout (the S3 audit's, prowler-style):

* :mod:`.inventory` - what was collected about one server, and the collector (stdlib HTTP, every
  request bounded by a timeout and counted against a budget; reads nothing sensitive, changes nothing);
* :mod:`.advisories` - the dated advisory table (``policies/mlflow-advisories.yaml``) and version order;
* :mod:`.checks` - one folder per check: ``<id>/<id>.py`` + ``<id>.metadata.json``;
* :mod:`.runner` - inventory -> subject (pure); :mod:`.gate` - the :class:`~mlgate.gate.Gate`.

Python API::

    from mlgate.gates.mlflow_posture import audit_server
    report = audit_server("https://mlflow.example.com", policy="policies/default.yaml",
                          server_env="/etc/mlflow/server.env")

Importing this package imports neither MLflow nor requests.
"""

from __future__ import annotations

from mlgate.gates.mlflow_posture.advisories import AdvisoryTable, Version, load_table
from mlgate.gates.mlflow_posture.config import MlflowPostureConfig
from mlgate.gates.mlflow_posture.gate import GATE_ID, MlflowPostureGate, audit_server, evaluate
from mlgate.gates.mlflow_posture.inventory import ServerInventory, collect_inventory
from mlgate.gates.mlflow_posture.runner import evaluate_inventory

__all__ = [
    "GATE_ID",
    "AdvisoryTable",
    "MlflowPostureConfig",
    "MlflowPostureGate",
    "ServerInventory",
    "Version",
    "audit_server",
    "collect_inventory",
    "evaluate",
    "evaluate_inventory",
    "load_table",
]
