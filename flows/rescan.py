"""Path entrypoint for ``infra/prefect.yaml``; the flow lives in :mod:`mlgate.orchestration.flows`."""
from mlgate.orchestration.flows import rescan, rescan_versions  # noqa: F401
