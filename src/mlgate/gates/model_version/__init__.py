"""The ``model-version`` gate: verification of a registered model version as one unit.

Subject: ``models:/<name>/<version>``. Outcomes are findings (``MLG-EVIDENCE-*``, see
:mod:`mlgate.evidence.verify`). What differs between callers (deploy, rescan, release, the
webhook worker; the registry guard runs the same kernel checks inline in the MLflow server) is the
declared :data:`~mlgate.evidence.verify.PROFILES` table, never a code path of its own.
"""

from mlgate.evidence.verify import PROFILES, VerificationProfile
from mlgate.gates.model_version.gate import ModelVersionGate, explain, parse_subject, verify_version

__all__ = ["PROFILES", "ModelVersionGate", "VerificationProfile", "explain", "parse_subject", "verify_version"]
