"""The JSON report. Schema: ``mlgate.report/v1`` (docs/report-schema.md and
``mlgate/report/report.schema.json``). A single report renders as one object; several (one per
gate) render as ``{"schema_version", "verdict", "reports": [...]}``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from mlgate.model import REPORT_SCHEMA_VERSION, Report, Verdict


def to_document(reports: Sequence[Report]) -> dict[str, Any]:
    if len(reports) == 1:
        return reports[0].to_json_dict()
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "verdict": Verdict.worst([r.verdict for r in reports]).value,
        "reports": [r.to_json_dict() for r in reports],
    }


def render_json(reports: Sequence[Report]) -> str:
    return json.dumps(to_document(reports), indent=2, sort_keys=False) + "\n"
