"""Moved to :mod:`mlgate._dev.stack` (and the process helpers to :mod:`mlgate.integrations.servers`).
These names stay importable for one release."""

import sys

from mlgate._dev.stack import buckets, local, mlflow_server, moto
from mlgate.integrations import servers as procs

for _name, _mod in {"buckets": buckets, "local": local, "mlflow_server": mlflow_server, "moto": moto,
                    "procs": procs}.items():
    sys.modules[f"{__name__}.{_name}"] = _mod
