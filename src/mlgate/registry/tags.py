"""Moved to :mod:`mlgate.evidence.tags` (the one tag contract); kept for one release because the
registry guard plugin is versioned separately."""

from mlgate.evidence.tags import *  # noqa: F403
from mlgate.evidence.tags import (  # noqa: F401 - re-exported names
    DEFAULT_PROTECTED_ALIASES,
    ENVELOPE,
    EVIDENCE_RUN,
    MANIFEST,
    PASSING_VALUES,
    QUARANTINE_REASON,
    QUARANTINED,
    QUARANTINED_ALIASES,
    QUARANTINED_AT,
    RELEASED_AT,
    REVOKED,
    VERDICT,
    format_revoked,
    is_passing,
    ordered_evidence_tags,
    parse_aliases,
    parse_protected_aliases,
    parse_revoked,
)
