"""Configs as code references (Hydra/OmegaConf ``_target_``, NeMo, Lightning ``class_path``) and the
one bounded YAML loader (alias bombs, python tags). Documents are written by the tests; nothing
is instantiated."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from mlgate.api import scan
from mlgate.gates.model_scan.context import ScanContext
from mlgate.gates.model_scan.formats import safeyaml
from mlgate.gates.model_scan.formats.configs import judge_reference
from mlgate.gates.model_scan.formats.hf import check_json_document, check_yaml_document
from mlgate.gates.model_scan.globals_policy import GlobalsPolicy, GlobalStatus
from mlgate.model import Severity, Verdict
from mlgate.policy import AllowEntry, Policy

from ._util import blocking, formats, ids, only

DANGEROUS = "MLG-CONFIG-TARGET-DANGEROUS"
UNKNOWN = "MLG-CONFIG-TARGET-UNKNOWN"

# The targets named by the peers' samples and by CVE-2025-23304 write-ups.
CODE_TARGETS = ["builtins.eval", "builtins.exec", "os.system", "subprocess.Popen", "subprocess.run",
                "subprocess.check_output", "pickle.loads", "posix.system", "runpy.run_path",
                "importlib.import_module", "torch.load", "os.path.join"]


def hydra_doc(target: str) -> str:
    return f"""\
model:
  _target_: {target}
  _args_: ["__import__('os').system('touch /tmp/pwned')"]
trainer:
  max_epochs: 3
"""


@pytest.mark.parametrize("target", CODE_TARGETS)
def test_cve_2025_23304_hydra_target_is_judged_like_a_pickle_global(target: str, ctx: ScanContext) -> None:
    """NeMo restore_from instantiates model_config.yaml with hydra: ``_target_: builtins.eval``.
    https://nvd.nist.gov/vuln/detail/CVE-2025-23304"""
    check_yaml_document("model_config.yaml", hydra_doc(target), ctx)
    found = only(ctx, DANGEROUS)
    assert found, ids(ctx)
    assert found[0].severity is Severity.CRITICAL
    assert found[0].details["target"] == target
    assert any("CVE-2025-23304" in r for r in found[0].references)
    assert any("cwe.mitre.org/data/definitions/94" in r for r in found[0].references)


def test_unknown_target_blocks_at_the_policy_severity(ctx: ScanContext) -> None:
    check_yaml_document("config.yaml", hydra_doc("my_company.models.Net"), ctx)
    f = only(ctx, UNKNOWN)
    assert f
    assert f[0].severity is Severity.HIGH
    assert blocking(ctx)


def test_allowlisted_target_passes_and_every_split_is_judged() -> None:
    pol = GlobalsPolicy((AllowEntry(module="torch.nn", name="Linear", reason="test entry"),), Severity.HIGH)
    assert judge_reference(pol, "torch.nn.Linear").status is GlobalStatus.ALLOWED
    # a split that lands in a denied module is dangerous whatever else matches
    assert judge_reference(pol, "os.path.join").status is GlobalStatus.DANGEROUS
    assert judge_reference(pol, "subprocess.Popen.__init__").status is GlobalStatus.DANGEROUS
    assert judge_reference(pol, "eval").status is GlobalStatus.DANGEROUS  # bare name: builtins
    assert judge_reference(pol, "torch.nn.Conv2d").status is GlobalStatus.UNKNOWN


def test_allowlisted_targets_report_nothing(make_ctx: object) -> None:
    pol = GlobalsPolicy((AllowEntry(module="torch.nn", name="Linear", reason="test entry"),
                         AllowEntry(module="torch.optim", name="Adam", reason="test entry")), Severity.HIGH)
    ctx = make_ctx(globals_policy=pol)  # type: ignore[operator]
    doc = {"model": {"_target_": "torch.nn.Linear", "in_features": 4, "out_features": 2},
           "optim": {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.001}}
    check_json_document("config.json", doc, ctx)
    assert not blocking(ctx), ids(ctx)
    assert "config-targets" in formats(ctx)


def test_lightning_class_path(ctx: ScanContext) -> None:
    doc = """\
model:
  class_path: mypkg.LitModel
  init_args:
    callback:
      class_path: subprocess.Popen
      init_args: {args: ["id"]}
"""
    check_yaml_document("config.yaml", doc, ctx)
    assert [f.details["target"] for f in only(ctx, DANGEROUS)] == ["subprocess.Popen"]
    assert [f.details["target"] for f in only(ctx, UNKNOWN)] == ["mypkg.LitModel"]


def test_nested_target_inside_args_and_lists(ctx: ScanContext) -> None:
    doc = {"a": [{"b": {"_target_": "functools.partial", "_args_": [{"_target_": "os.system"}]}}]}
    check_json_document("config.json", doc, ctx)
    assert sorted(f.details["target"] for f in only(ctx, DANGEROUS)) == ["functools.partial", "os.system"]


def test_malformed_target_blocks(ctx: ScanContext) -> None:
    check_json_document("config.json", {"m": {"_target_": ["os", "system"]}}, ctx)
    assert ids(ctx) == ["MLG-CONFIG-TARGET-MALFORMED"]
    assert blocking(ctx)


def test_eval_resolver_is_code(ctx: ScanContext) -> None:
    check_yaml_document("config.yaml", "lr: ${eval:'__import__(\"os\").system(\"id\")'}\nb: ${oc.select:x}\n", ctx)
    f = only(ctx, "MLG-CONFIG-RESOLVER")
    assert len(f) == 1
    assert f[0].severity is Severity.CRITICAL


def test_plain_configs_report_nothing(ctx: ScanContext) -> None:
    check_yaml_document("conda.yaml", "name: env\nchannels: [conda-forge]\ndependencies:\n- python=3.11\n"
                        "- pip:\n  - mlflow==3.1.0\n", ctx)
    check_json_document("config.json", {"model_type": "llama", "hidden_size": 64}, ctx)
    assert ctx.findings == []


# --------------------------------------------------------------------------------------------
# The bounded YAML loader
# --------------------------------------------------------------------------------------------

BOMB_MLMODEL = (
    "artifact_path: model\n"
    "flavors:\n"
    "  python_function: {loader_module: mlflow.sklearn, code_paths: *i}\n"
)


def alias_bomb() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, c in enumerate("bcdefghi"):
        lines.append(f"{c}: &{c} [" + ",".join([f"*{'abcdefghi'[i]}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_with_a_clear_finding(ctx: ScanContext) -> None:
    text = alias_bomb() + BOMB_MLMODEL
    assert len(text) < 520  # the 499-byte class
    check_yaml_document("MLmodel", text, ctx)
    f = only(ctx, "MLG-YAML-REFUSED")
    assert f, ids(ctx)
    assert "alias" in f[0].message
    assert f[0].severity is Severity.HIGH


def test_expanded_size_is_bounded_with_few_aliases() -> None:
    big = "a: &a [" + ",".join(["1"] * 200_000) + "]\nb: [" + ",".join(["*a"] * 10) + "]\n"
    with pytest.raises(safeyaml.YamlRefused, match="expanded"):
        safeyaml.load_yaml(big)


def test_recursive_alias_and_depth_are_refused() -> None:
    with pytest.raises(safeyaml.YamlRefused, match="recursive"):
        safeyaml.load_yaml("a: &a [1, *a]\n")
    with pytest.raises(safeyaml.YamlRefused, match="deeper"):
        safeyaml.load_yaml("[" * 500 + "]" * 500)


def test_few_aliases_load_like_safe_load() -> None:
    text = "base: &base {lr: 0.1, opt: adam}\nrun1: {<<: *base, lr: 0.2}\nrun2: *base\n"
    assert safeyaml.load_yaml(text) == yaml.safe_load(text)


@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system [id]", "!!python/name:builtins.eval ''",
                                 "!<tag:yaml.org,2002:python/object/new:subprocess.Popen> [[id]]"])
def test_python_tags_are_code(tag: str, ctx: ScanContext) -> None:
    check_yaml_document("MLmodel", f"flavors:\n  x: {tag}\n", ctx)
    assert ids(ctx) == ["MLG-YAML-CODE-TAG"], ids(ctx)


def test_python_tag_through_a_tag_directive(ctx: ScanContext) -> None:
    doc = "%TAG !p! tag:yaml.org,2002:python/\n---\nflavors:\n  x: !p!object/apply:os.system [id]\n"
    check_yaml_document("MLmodel", doc, ctx)
    assert ids(ctx) == ["MLG-YAML-CODE-TAG"]


def test_gate_alias_bomb_mlmodel_fails_fast(tmp_path: Path, default_policy: Policy) -> None:
    """The issue's 499-byte MLmodel: 1.8 GB RSS before; now refused while composing."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "MLmodel").write_text(alias_bomb() + BOMB_MLMODEL)
    t0 = time.process_time()
    r = scan(model, policy=default_policy)
    assert time.process_time() - t0 < 60  # generous: the point is "not minutes, not an OOM kill"
    assert r.verdict is Verdict.FAIL
    assert any(f.id == "MLG-YAML-REFUSED" for s in r.subjects for f in s.findings)


def test_gate_nemo_style_config_and_json(tmp_path: Path, default_policy: Policy) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model_config.yaml").write_text(hydra_doc("builtins.eval"))
    (model / "config.json").write_text(json.dumps({"x": {"_target_": "os.system"}}))
    r = scan(model, policy=default_policy)
    assert r.verdict is Verdict.FAIL
    hits = {(s.subject.rsplit("/", 1)[-1], f.id) for s in r.subjects for f in s.findings if f.blocking}
    assert ("model_config.yaml", DANGEROUS) in hits, hits
    assert ("config.json", DANGEROUS) in hits, hits


def test_json_vocabularies_are_not_read_as_omegaconf(ctx: ScanContext) -> None:
    check_json_document("tokenizer.json", {"model": {"vocab": {"${eval:": 1, "x": 2}}}, ctx)
    assert ctx.findings == []
