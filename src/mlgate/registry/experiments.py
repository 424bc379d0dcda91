"""Small MLflow helpers shared by the hook flow, release and publish (kept for one release; use
:meth:`mlgate.integrations.mlflow.RegistryClient.ensure_experiment`)."""

from __future__ import annotations

from typing import Any


def ensure_experiment(client: Any, name: str) -> str:
    """The id of experiment ``name``, creating it if needed (safe when another worker races us)."""
    from mlgate.integrations.mlflow import RegistryClient

    return RegistryClient.wrap(client).ensure_experiment(name)
