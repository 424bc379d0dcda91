"""Registry-side tools: the tag contract (:mod:`.tags`), evidence checks (:mod:`.verify`) and
quarantine / release of model versions (:mod:`.quarantine`). Importing this package pulls in no
MLflow and no Prefect (the MLflow server plugin imports :mod:`.verify`)."""
