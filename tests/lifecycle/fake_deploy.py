"""A minimal MLflow deployments plugin for tests: records what it was asked to deploy."""

from __future__ import annotations

from typing import Any

from mlflow.deployments import BaseDeploymentClient

DEPLOYMENTS: dict[str, dict[str, Any]] = {}


class FakeDeploymentClient(BaseDeploymentClient):  # type: ignore[misc]
    def create_deployment(self, name: str, model_uri: str, flavor: Any = None, config: Any = None,
                          endpoint: Any = None) -> dict[str, Any]:
        DEPLOYMENTS[name] = {"model_uri": model_uri, "action": "create"}
        return {"name": name}

    def update_deployment(self, name: str, model_uri: Any = None, flavor: Any = None, config: Any = None,
                          endpoint: Any = None) -> dict[str, Any]:
        DEPLOYMENTS[name] = {"model_uri": model_uri, "action": "update"}
        return {"name": name}

    def get_deployment(self, name: str, endpoint: Any = None) -> dict[str, Any]:
        if name not in DEPLOYMENTS:
            raise KeyError(name)
        return {"name": name, **DEPLOYMENTS[name]}

    def delete_deployment(self, name: str, config: Any = None, endpoint: Any = None) -> None:
        DEPLOYMENTS.pop(name, None)

    def list_deployments(self, endpoint: Any = None) -> list[dict[str, Any]]:
        return [{"name": n} for n in DEPLOYMENTS]

    def predict(self, deployment_name: Any = None, inputs: Any = None, endpoint: Any = None) -> Any:
        raise NotImplementedError


def run_local(target: str, name: str, model_uri: str, flavor: Any = None, config: Any = None) -> None:
    raise NotImplementedError


def target_help() -> str:
    return "mlgate test deployment target"
