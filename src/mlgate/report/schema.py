"""The JSON Schema of the JSON report (``mlgate.report/v1``), generated from the result model.
``report.schema.json`` beside this file is the committed copy; a test keeps them equal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlgate.model import Report, Summary

SCHEMA_PATH = Path(__file__).with_name("report.schema.json")


def report_schema() -> dict[str, Any]:
    schema = Report.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://mlgate.dev/schemas/mlgate.report.v1.json"
    schema["title"] = "mlgate report (mlgate.report/v1)"
    schema.setdefault("$defs", {})["Summary"] = Summary.model_json_schema()
    schema["properties"]["summary"] = {"$ref": "#/$defs/Summary"}
    schema["required"] = sorted(set(schema.get("required", [])) | {"schema_version", "summary", "subjects"})
    return schema


def write_schema() -> None:
    SCHEMA_PATH.write_text(json.dumps(report_schema(), indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":  # python -m mlgate.report.schema
    write_schema()
