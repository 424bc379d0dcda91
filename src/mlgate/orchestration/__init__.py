"""Every Prefect ``@task`` and ``@flow`` of mlgate, importable by module (L5: entry points).

* :mod:`.tasks`: thin tasks over the use cases in :mod:`mlgate.lifecycle`, :mod:`mlgate.rescan`
  and :mod:`mlgate.hooks.process`; only transient errors are retried.
* :mod:`.flows`: the flows (``mlgate.orchestration.flows:lifecycle`` ...). ``flows/*.py`` in the
  repository re-export them so that ``infra/prefect.yaml``'s path entrypoints keep working.
* :mod:`.schedule`: the weekly rescan deployment and its next runs.
* :mod:`.runtime`: which Prefect API a command's flows run against (never the ephemeral one).
"""
