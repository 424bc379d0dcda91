"""Scheduled rescans of everything already registered (``flows/rescan.py``, ``mlgate rescan``).

Scanners learn new tricks and bytes in a bucket can change after the fact. For every selected
model version a rescan:

1. checks the version's evidence without any download (the signed attestation envelope: our key,
   not revoked, the exact source, a passing verdict, the manifest the tags claim);
2. checks its bytes: cheaply, by comparing the store's object identities (S3 version ids or
   SHA-256 checksums) with those recorded, signed, at the last clean result
   (``mlgate.rescan_state``), or else by downloading exactly those object versions, re-hashing
   them against the signed manifest and verifying the OpenSSF model signature;
3. rescans the bytes under the current policy and scanner versions, unless the manifest, the
   scanner versions and the (scan-relevant) policy digest are all unchanged since the last clean
   result;
4. re-audits the artifact buckets (once per run, not once per version).

Anything that fails is quarantined at once through :mod:`mlgate.registry.quarantine` (verdict
tag, reason, time, aliases removed and recorded, Prefect event). Nothing is deleted. A quarantined
version comes back only through :func:`mlgate.rescan.release.release_version` (``mlgate release``),
which verifies it again from scratch.

Modules: :mod:`.settings` (policy section ``gates.rescan`` + runtime settings), :mod:`.select`
(walking the registry), :mod:`.bytecheck` (S3 identities, pinned downloads), :mod:`.state` (the
signed "last clean result"), :mod:`.check` (one version), :mod:`.summary` (result model and its
renderers), :mod:`.release`, :mod:`.tasks` (Prefect tasks and task runners), :mod:`.schedule`.
"""
