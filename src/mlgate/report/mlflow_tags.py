"""Moved to :func:`mlgate.evidence.tags.evidence_tags` (the one tag contract); kept for one release."""

from __future__ import annotations

from mlgate.evidence.tags import MAX_TAG, evidence_tags

mlflow_tags = evidence_tags

__all__ = ["MAX_TAG", "mlflow_tags"]
