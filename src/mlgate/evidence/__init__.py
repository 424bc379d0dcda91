"""The evidence kernel: what binds a verdict to bytes, and how it is checked.

* :mod:`.keys`: EC P-256 keys, key ids, the signing-key file rules (0600, owner);
* :mod:`.envelope`: the one signed envelope (DSSE with PAE);
* :mod:`.statement`: the verdict statement (in-toto Statement v1; provenance, attestation id);
* :mod:`.model_signature`: OpenSSF model signatures and the pluggable signer;
* :mod:`.state`: the signed rescan state;
* :mod:`.tags`: the one registry tag contract;
* :mod:`.verify`: the pure checks, their findings and the per-caller profiles.

It needs :mod:`cryptography` and pydantic only (``model_signing`` lazily, to sign or verify a
model signature), so the registry guard can verify inside the MLflow server; an import-linter
contract keeps MLflow, Prefect, GX, pandas, boto3, modelscan and the gates out of it.
"""
