"""Path entrypoints for ``infra/prefect.yaml``; the flows live in :mod:`mlgate.orchestration.flows`."""
from mlgate.orchestration.flows import deploy, lifecycle, publish, train  # noqa: F401
