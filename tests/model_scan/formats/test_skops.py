"""skops schemas: real estimators saved with ``skops.io.dump`` pass under the default policy and
agree with ``skops.io.get_untrusted_types`` (an audit that builds the node tree without
constructing anything); hand-made malicious schemas are critical. Nothing is ``skops.io.load``-ed."""

from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from mlgate.gates.model_scan.formats.skops import analyze_skops_schema
from mlgate.gates.model_scan.globals_policy import GlobalsPolicy
from mlgate.model import FindingKind, Severity
from mlgate.policy import load_policy

from ._util import blocking, formats, ids

TEST_POLICY = Path(__file__).with_name("skops-test-policy.yaml")
RNG = np.random.RandomState(0)
X = RNG.rand(60, 3)
Y = (X[:, 0] > 0.5).astype(int)


def _models() -> dict[str, Any]:
    return {
        "logistic-regression": LogisticRegression().fit(X, Y),
        "random-forest": RandomForestClassifier(n_estimators=3, random_state=0).fit(X, Y),
        "pipeline": Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, Y),
    }


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("skops")
    out = {}
    for name, model in _models().items():
        p = d / f"{name}.skops"
        sio.dump(model, p)
        out[name] = p
    return out


def schema_of(p: Path) -> Any:
    with zipfile.ZipFile(p) as z:
        return json.loads(z.read("schema.json"))


def judged_refs(ctx: Any) -> set[str]:
    refs = set(ctx.details.get("skops_allowed_types", []))
    refs |= {f.details["ref"] for f in ctx.findings if "ref" in f.details}
    return refs


@pytest.mark.parametrize("name", ["logistic-regression", "random-forest", "pipeline"])
def test_benign_estimators_pass_under_default_policy(name: str, saved: dict[str, Path], ctx: Any) -> None:
    analyze_skops_schema(schema_of(saved[name]), ctx)
    assert blocking(ctx) == [], [f.message for f in ctx.findings]
    assert formats(ctx) == ["skops-schema"]
    assert ctx.coverage[0].detail.startswith("protocol 2, ")


@pytest.mark.parametrize("name", ["logistic-regression", "random-forest", "pipeline"])
def test_we_judge_every_type_skops_distrusts(name: str, saved: dict[str, Path], ctx: Any) -> None:
    """skops distrusts sklearn.tree._tree.Tree (memory safety of node indices, not code); our
    policy allows sklearn classes, but every type skops flags must at least have been judged."""
    untrusted = set(sio.get_untrusted_types(file=saved[name]))
    analyze_skops_schema(schema_of(saved[name]), ctx)
    assert untrusted <= judged_refs(ctx)
    if name == "random-forest":
        assert "sklearn.tree._tree.Tree" in untrusted


def test_estimators_needing_more_allowlist_entries(tmp_path: Path, make_ctx: Any) -> None:
    """HistGradientBoosting (numpy.uint64, PCG64 by name) and FunctionTransformer(np.log1p) need
    entries beyond the default allowlists: unknown (high) under the default policy, clean under
    the test policy that adds them (proposed for the shared allowlists)."""
    models = {
        "hgb": HistGradientBoostingClassifier(max_iter=3, random_state=0).fit(X, Y),
        "ft": make_pipeline(FunctionTransformer(np.log1p), StandardScaler()).fit(X),
    }
    extended = GlobalsPolicy.from_policy(load_policy(TEST_POLICY), None)
    for name, model in models.items():
        p = tmp_path / f"{name}.skops"
        sio.dump(model, p)
        # the default policy now carries the generated object-level allowlists (scan-allowlists)
        default = make_ctx()
        analyze_skops_schema(schema_of(p), default)
        assert default.findings == [], [f.message for f in default.findings]
        ok = make_ctx(globals_policy=extended)
        analyze_skops_schema(schema_of(p), ok)
        assert ok.findings == [], [f.message for f in ok.findings]


# -- malicious schemas ------------------------------------------------------------------------------


def node(loader: str, module: str, cls: str, **extra: Any) -> dict[str, Any]:
    return {"__class__": cls, "__module__": module, "__loader__": loader, **extra}


def json_node(value: Any) -> dict[str, Any]:
    return node("JsonNode", "builtins", "str", content=json.dumps(value), is_json=True)


def estimator(attrs: dict[str, Any], cls: str = "LogisticRegression",
              module: str = "sklearn.linear_model._logistic") -> dict[str, Any]:
    content = node("DictNode", "builtins", "dict", content=attrs,
                   key_types=node("ListNode", "builtins", "list",
                                  content=[node("TypeNode", "builtins", "str") for _ in attrs]))
    return {**node("ObjectNode", module, cls, content=content), "protocol": 2, "_skops_version": "0.16.0"}


MALICIOUS = {
    "function-builtins-eval": (estimator({"C": node("FunctionNode", "builtins", "eval")}),
                               "MLG-SKOPS-DANGEROUS-TYPE", "builtins.eval"),
    "function-os-system": (estimator({"solver": node("FunctionNode", "os", "system")}),
                           "MLG-SKOPS-DANGEROUS-TYPE", "os.system"),
    "type-subprocess-popen": (estimator({"x": node("TypeNode", "subprocess", "Popen")}),
                              "MLG-SKOPS-DANGEROUS-TYPE", "subprocess.Popen"),
    "object-of-unknown-class": (estimator({}, cls="Evil", module="attacker.payload"),
                                "MLG-SKOPS-UNKNOWN-TYPE", "attacker.payload.Evil"),
    "operator-methodcaller": (estimator({"f": node("OperatorFuncNode", "operator", "methodcaller",
                                                   attrs=node("TupleNode", "builtins", "tuple",
                                                              content=[json_node("system")]))}),
                              "MLG-SKOPS-DANGEROUS-TYPE", "operator.methodcaller"),
    "partial-of-eval": (estimator({"f": node("PartialNode", "functools", "partial", content={
        "func": node("FunctionNode", "builtins", "exec"), "args": node("TupleNode", "builtins", "tuple", content=[]),
        "kwds": node("DictNode", "builtins", "dict", content={}, key_types=node("ListNode", "builtins", "list",
                                                                                content=[])),
        "namespace": json_node(None)})}), "MLG-SKOPS-DANGEROUS-TYPE", "builtins.exec"),
    "constructor-from-reduce": (estimator({"x": node("ConstructorFromReduceNode", "posix", "system",
                                                     content=node("TupleNode", "builtins", "tuple",
                                                                  content=[json_node("true")]))}),
                                "MLG-SKOPS-DANGEROUS-TYPE", "posix.system"),
    "method-of-dangerous-object": (estimator({"m": node("MethodNode", "os", "_wrap_close", content={
        "func": "close", "obj": node("ObjectNode", "os", "_wrap_close")})}),
        "MLG-SKOPS-DANGEROUS-TYPE", "os._wrap_close"),
    "random-generator-bad-bit-generator": (estimator({"rng": node("RandomGeneratorNode", "numpy.random._generator",
                                                                  "Generator", content={
        "bit_generator": node("DictNode", "builtins", "dict", content={"bit_generator": json_node("seed")},
                              key_types=node("ListNode", "builtins", "list", content=[])),
        "seed_seq": json_node(None)})}), "MLG-SKOPS-UNKNOWN-TYPE", "numpy.random.seed"),
    "hidden-under-a-dict-key-named-type": (estimator({"type": node("FunctionNode", "builtins", "eval")}),
                                           "MLG-SKOPS-DANGEROUS-TYPE", "builtins.eval"),
}


@pytest.mark.parametrize("name", sorted(MALICIOUS))
def test_malicious_schema(name: str, ctx: Any) -> None:
    schema, rule_id, ref = MALICIOUS[name]
    analyze_skops_schema(schema, ctx)
    hits = [f for f in ctx.findings if f.id == rule_id and f.details.get("ref") == ref]
    assert hits, [f.message for f in ctx.findings]
    expected = Severity.CRITICAL if rule_id == "MLG-SKOPS-DANGEROUS-TYPE" else Severity.HIGH
    assert hits[0].severity is expected


def test_protocol_0_function_node_names_its_function_in_content(ctx: Any) -> None:
    schema = estimator({"f": node("FunctionNode", "builtins", "function",
                                  content={"module_path": "os", "function": "system"})})
    schema["protocol"] = 0
    analyze_skops_schema(schema, ctx)
    assert any(f.id == "MLG-SKOPS-DANGEROUS-TYPE" and f.details["ref"] == "os.system" for f in ctx.findings)


@pytest.mark.parametrize(
    ("schema", "rule_id", "severity"),
    [
        (estimator({"x": node("EvalNode", "sklearn.linear_model", "LinearRegression")}),
         "MLG-SKOPS-UNKNOWN-LOADER", Severity.HIGH),
        (estimator({"x": {"__loader__": "ObjectNode"}}), "MLG-SKOPS-MALFORMED", Severity.HIGH),
        (estimator({"x": node("MethodNode", "sklearn.linear_model._logistic", "LogisticRegression", content={
            "func": "fit", "obj": node("ObjectNode", "os", "_wrap_close")})}), "MLG-SKOPS-MALFORMED", Severity.HIGH),
        (estimator({"x": node("OperatorFuncNode", "os", "system", attrs=json_node([]))}), "MLG-SKOPS-MALFORMED",
         Severity.HIGH),
        (estimator({"x": node("NdArrayNode", "numpy", "ndarray", type="pickle", file="a.npy")}),
         "MLG-SKOPS-MALFORMED", Severity.HIGH),
        (estimator({"x": node("CachedNode", "builtins", "dict")}), "MLG-SKOPS-MALFORMED", Severity.HIGH),
    ],
    ids=["unknown-loader", "missing-module", "method-type-mismatch", "operator-wrong-module", "ndarray-bad-type",
         "cached-without-id"],
)
def test_malformed_nodes(schema: Any, rule_id: str, severity: Severity, ctx: Any) -> None:
    analyze_skops_schema(schema, ctx)
    hits = [f for f in ctx.findings if f.id == rule_id]
    assert hits, [f.message for f in ctx.findings]
    assert hits[0].severity is severity


@pytest.mark.parametrize("protocol", ["2", None, -1, True, 2.0])
def test_invalid_protocol(protocol: Any, ctx: Any) -> None:
    schema = estimator({})
    schema["protocol"] = protocol
    analyze_skops_schema(schema, ctx)
    assert ids(ctx) == ["MLG-SKOPS-MALFORMED"]
    assert formats(ctx) == []


def test_newer_protocol_is_unsupported_but_still_audited(ctx: Any) -> None:
    schema = estimator({"f": node("FunctionNode", "builtins", "eval")})
    schema["protocol"] = 99
    analyze_skops_schema(schema, ctx)
    assert ids(ctx) == ["MLG-SKOPS-PROTOCOL", "MLG-SKOPS-DANGEROUS-TYPE"]
    assert ctx.findings[0].kind is FindingKind.UNSUPPORTED


def test_schema_not_an_object(ctx: Any) -> None:
    analyze_skops_schema([1, 2], ctx)
    assert ids(ctx) == ["MLG-SKOPS-MALFORMED"]


def test_agrees_with_skops_audit_on_a_malicious_file(tmp_path: Path, saved: dict[str, Path], ctx: Any) -> None:
    """Inject a FunctionNode(builtins.eval) into a real model's schema; skops' own audit (no
    construction) and ours both name it."""
    schema = schema_of(saved["logistic-regression"])
    evil = copy.deepcopy(schema)
    attrs = evil["content"]["content"]
    attrs["solver"] = node("FunctionNode", "builtins", "eval")
    evil["content"]["key_types"]["content"].append(node("TypeNode", "builtins", "str"))
    p = tmp_path / "evil.skops"
    with zipfile.ZipFile(saved["logistic-regression"]) as src, zipfile.ZipFile(p, "w") as dst:
        for item in src.infolist():
            data = json.dumps(evil).encode() if item.filename == "schema.json" else src.read(item.filename)
            dst.writestr(item, data)
    assert "builtins.eval" in sio.get_untrusted_types(file=p)
    analyze_skops_schema(schema_of(p), ctx)
    assert [(f.id, f.details["ref"]) for f in ctx.findings] == [("MLG-SKOPS-DANGEROUS-TYPE", "builtins.eval")]
