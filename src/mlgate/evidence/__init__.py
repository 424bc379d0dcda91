"""Evidence that binds a verdict to bytes: keys, signed verdict attestations, and model signatures
(OpenSSF Model Signing). Only :mod:`cryptography` is needed to verify an attestation, so the
MLflow registry guard can verify inside the MLflow server without Prefect or Great Expectations."""
