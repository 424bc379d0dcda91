"""Starting and stopping the local stack's servers (moto S3, mlflow server, Prefect). Used by the
``infra`` launcher and by the tests; every server binds 127.0.0.1 only."""
