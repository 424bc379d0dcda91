"""Every model-scan rule carries a CWE (and advisories where one applies), and SARIF shows them."""

from __future__ import annotations

import json
from pathlib import Path

import mlgate.gates.model_scan.analyze  # noqa: F401  (registers every analyser's rules)
from mlgate.api import scan
from mlgate.gates.model_scan.rules import RULES
from mlgate.policy import Policy
from mlgate.report.sarif import render_sarif, weakness_ids


def test_every_rule_has_a_cwe_reference() -> None:
    missing = [r.id for r in RULES.values() if not r.cwe and r.kind.value == "issue"]
    assert missing == [], missing
    for r in RULES.values():
        cwe, adv = weakness_ids(r.references)
        assert cwe == list(r.cwe), r.id
        assert set(r.advisories) <= set(adv), r.id  # older rules name CVEs in their URLs too


def test_sarif_rule_tags_and_properties(tmp_path: Path, default_policy: Policy) -> None:
    (tmp_path / "model_config.yaml").write_text("m:\n  _target_: builtins.eval\n")
    r = scan(tmp_path, policy=default_policy)
    doc = json.loads(render_sarif([r]))
    rules = {x["id"]: x for x in doc["runs"][0]["tool"]["driver"]["rules"]}
    rule = rules["MLG-CONFIG-TARGET-DANGEROUS"]
    assert "external/cwe/cwe-94" in rule["properties"]["tags"]
    assert rule["properties"]["advisories"] == ["CVE-2025-23304"]
    assert rule["helpUri"].startswith("https://hydra.cc/")
