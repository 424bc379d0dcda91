"""Small MLflow helpers shared by the hook flow, release and publish."""

from __future__ import annotations

from typing import Any


def ensure_experiment(client: Any, name: str) -> str:
    """The id of experiment ``name``, creating it if needed (safe when another worker races us)."""
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    try:
        return str(client.create_experiment(name))
    except Exception:
        exp = client.get_experiment_by_name(name)  # another worker created it meanwhile
        if exp is None:
            raise
        return str(exp.experiment_id)
