"""Path entrypoint for deployments; the flow lives in :mod:`mlgate.orchestration.flows`."""
from mlgate.orchestration.flows import registry_hook  # noqa: F401
