"""MLflow registry webhooks, asynchronous half of the registry hooks: an authenticated receiver
(:mod:`.receiver`, :mod:`.verify`), a durable queue (:mod:`.queue`), a worker (:mod:`.worker`)
and the processing behind the Prefect flow (:mod:`.process`). The synchronous half is the MLflow
server plugin in ``plugins/mlflow-registry-guard``. See ``docs/registry-hooks.md``."""
