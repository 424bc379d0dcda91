"""The S3 misconfiguration audit gate (``s3-audit``).

Layout (prowler-style, without its module singletons):

* :mod:`.inventory` - pydantic models of what was collected, and the collector (injected
  ``boto3.Session``, thread pool, every failed call recorded, never raised);
* :mod:`.policy_eval` - an IAM policy evaluator (principals, actions, resources, conditions);
* :mod:`.checks` - one folder per check: ``<id>/<id>.py`` + ``<id>.metadata.json``;
* :mod:`.runner` - inventory -> subjects (pure); :mod:`.gate` - the :class:`~mlgate.gate.Gate`.

Python API::

    from mlgate.gates.s3_audit import audit_buckets
    report = audit_buckets(["ml-artifacts"], policy="policies/default.yaml", session=aws.session())  # mlgate.integrations.aws

Importing this package does not import boto3 (it is imported when a session is needed).
"""

from __future__ import annotations

from mlgate.gates.s3_audit.config import S3AuditConfig
from mlgate.gates.s3_audit.gate import GATE_ID, S3AuditGate, audit_buckets, default_session, evaluate
from mlgate.gates.s3_audit.inventory import AuditInventory, collect_inventory
from mlgate.gates.s3_audit.runner import evaluate_inventory

__all__ = [
    "GATE_ID",
    "AuditInventory",
    "S3AuditConfig",
    "S3AuditGate",
    "audit_buckets",
    "collect_inventory",
    "default_session",
    "evaluate",
    "evaluate_inventory",
]
