"""skops (``.skops``) files: the ``schema.json`` tree, judged node by node against the policy.

A ``.skops`` file is a zip whose ``schema.json`` describes the object tree; loading it imports
``__module__.__class__`` of every node and, depending on the node's ``__loader__``, instantiates the
class, calls it, returns a function or type object, or binds a method. skops' own
``get_untrusted_types`` audits the same tree against skops' built-in trust lists; we audit it
against *the policy's* allowlist (deny by default, with reasons), so a skops file and a pickle of
the same estimator are judged by the same entries.

Per node:

* every ``__module__``/``__class__`` pair is judged by ``ctx.globals_policy``: dangerous ->
  critical, unknown -> the policy's unknown severity;
* loaders that yield callables (``FunctionNode``, ``TypeNode``, ``MethodNode``, ``PartialNode``,
  ``OperatorFuncNode``) are judged on the callable they yield: a function reference to
  ``builtins.eval`` or ``os.system`` is critical whatever the allowlist says; ``MethodNode``
  also judges ``module.Class.method`` and requires the bound object to be of the declared type;
  ``OperatorFuncNode`` (``operator.attrgetter``/``itemgetter``/``methodcaller``) is judged as the
  ``operator`` global it is (critical: gadget chains);
* protocol-0 ``FunctionNode`` names its function in ``content.module_path``/``function``;
* ``RandomGeneratorNode`` resolves the bit-generator class from a plain string
  (``numpy.random.<name>``), which is judged too;
* ``JsonNode`` and ``CachedNode`` build no object from a type (a memo reference / ``json.loads``)
  and are not judged;
* an unknown ``__loader__`` is high (the loader set is closed: a name we do not know is either a
  newer skops or a crafted file), and a ``protocol`` that is not an int in ``[0, 2]`` is reported.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from mlgate.gates.model_scan.context import ScanContext
from mlgate.gates.model_scan.globals_policy import GlobalStatus
from mlgate.gates.model_scan.rules import rule
from mlgate.model import FindingKind, Severity

REFS = (
    "https://skops.readthedocs.io/en/stable/persistence.html",
    "https://github.com/skops-dev/skops/security/advisories",
)
R_DANGEROUS = rule(
    "MLG-SKOPS-DANGEROUS-TYPE",
    "skops schema references a code-reaching type or function",
    Severity.CRITICAL,
    "Do not load the file: skops imports and calls the referenced object. Re-save the model from a trusted "
    "environment.",
    REFS,
)
R_UNKNOWN = rule(
    "MLG-SKOPS-UNKNOWN-TYPE",
    "skops schema references a type or function that is not on the allowlist",
    Severity.HIGH,
    "If the type is a known-safe class of your organisation or library, add it to the policy allowlist with a "
    "reason; never pass it to skops.io.load(trusted=...) without review.",
    REFS,
)
R_LOADER = rule(
    "MLG-SKOPS-UNKNOWN-LOADER",
    "skops schema uses an unknown __loader__",
    Severity.HIGH,
    "The node type is not one skops defines; the file was crafted or needs a newer analyser. Do not load it.",
    REFS,
)
R_MALFORMED = rule(
    "MLG-SKOPS-MALFORMED",
    "skops schema is malformed",
    Severity.HIGH,
    "A node lacks required fields or contradicts itself (skops rejects such files as 'corrupted or malicious'). "
    "Do not load it.",
    REFS,
)
R_PROTOCOL = rule(
    "MLG-SKOPS-PROTOCOL",
    "skops protocol version not supported by the analyser",
    Severity.MEDIUM,
    "Re-save the model with a skops version whose protocol the gate knows (<= 2), or update mlgate.",
    REFS,
    kind=FindingKind.UNSUPPORTED,
)

MAX_PROTOCOL = 2
# __loader__ -> what the node does with __module__.__class__ at load time.
INSTANTIATES = "instantiates"
CALLS = "calls"
YIELDS = "yields"  # returns the object itself (a function or type)
NONE = "none"
LOADERS: dict[str, str] = {
    # skops.io._general
    "DictNode": INSTANTIATES,
    "DefaultDictNode": INSTANTIATES,
    "ListNode": INSTANTIATES,
    "SetNode": INSTANTIATES,
    "TupleNode": INSTANTIATES,
    "BytesNode": INSTANTIATES,
    "BytearrayNode": INSTANTIATES,
    "SliceNode": INSTANTIATES,
    "FunctionNode": YIELDS,
    "MethodNode": YIELDS,
    "PartialNode": CALLS,
    "TypeNode": YIELDS,
    "ConstructorFromReduceNode": CALLS,
    "ObjectNode": INSTANTIATES,
    "JsonNode": NONE,
    "OperatorFuncNode": CALLS,
    "CachedNode": NONE,
    # skops.io._numpy
    "NdArrayNode": INSTANTIATES,
    "MaskedArrayNode": INSTANTIATES,
    "DTypeNode": INSTANTIATES,
    "RandomStateNode": INSTANTIATES,
    "RandomGeneratorNode": INSTANTIATES,
    # skops.io._scipy
    "SparseMatrixNode": INSTANTIATES,
    # skops.io._sklearn
    "ReduceNode": CALLS,
    "TreeNode": CALLS,
    "LossNode": CALLS,
    "_DictWithDeprecatedKeysNode": INSTANTIATES,
    # skops.io._quantile_forest
    "QuantileForestNode": CALLS,
}
MAX_FINDINGS_PER_RULE = 30


def _children(node: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Child values that may hold node states. We walk every dict/list value, not only the keys
    skops reads: a node hidden under an unexpected key is reported if it is a node, and a user
    dict key that happens to be called ``type`` or ``file`` is not skipped."""
    for k, v in node.items():
        if isinstance(v, (dict, list)):
            yield k, v


class _Audit:
    def __init__(self, ctx: ScanContext) -> None:
        self.ctx = ctx
        self.counts: dict[str, int] = {}
        self.judged: dict[tuple[str, str], list[str]] = {}
        self.nodes = 0
        self.allowed: list[str] = []

    def issue(self, r: Any, message: str, severity: Severity | None = None, **details: Any) -> None:
        n = self.counts.get(r.id, 0)
        self.counts[r.id] = n + 1
        if n > MAX_FINDINGS_PER_RULE:
            return
        if n == MAX_FINDINGS_PER_RULE:
            self.ctx.issue(r, f"more {r.id} findings not listed", severity=severity, details={"truncated": True})
            return
        self.ctx.issue(r, message, severity=severity, details=details)

    def judge(self, module: str, name: str, path: str, role: str) -> None:
        key = (module, name)
        if key in self.judged:
            self.judged[key].append(path)
            return
        self.judged[key] = [path]
        j = self.ctx.globals_policy.judge(module, name)
        ref = f"{j.module}.{name}"
        if j.status is GlobalStatus.DANGEROUS:
            self.issue(R_DANGEROUS, f"{role} {ref} at {path} ({j.reason})", ref=ref, path=path, role=role)
        elif j.status is GlobalStatus.UNKNOWN:
            self.issue(R_UNKNOWN, f"{role} {ref} at {path} is not on the allowlist", severity=j.severity,
                       ref=ref, path=path, role=role)
        elif ref not in self.allowed and len(self.allowed) < 200:
            self.allowed.append(ref)

    def node(self, path: str, node: dict[str, Any]) -> None:
        self.nodes += 1
        loader = node.get("__loader__")
        module, cls = node.get("__module__"), node.get("__class__")
        if not isinstance(loader, str):
            self.issue(R_MALFORMED, f"node at {path} has no string __loader__", path=path)
            return
        if loader not in LOADERS:
            self.issue(R_LOADER, f"unknown __loader__ {loader[:80]!r} at {path}", loader=loader[:80], path=path)
            # still judge its type: an unknown loader must not hide a dangerous reference
        if loader == "CachedNode":
            if "__id__" not in node:
                self.issue(R_MALFORMED, f"CachedNode at {path} without __id__", path=path)
            return
        if not isinstance(module, str) or not isinstance(cls, str) or not module or not cls:
            self.issue(R_MALFORMED, f"{loader} at {path} lacks a string __module__/__class__", path=path)
            return
        if loader == "JsonNode":
            return  # json.loads of the content; the declared type is never imported
        role = {YIELDS: "function/type reference", CALLS: "callable", INSTANTIATES: "type"}.get(
            LOADERS.get(loader, INSTANTIATES), "type"
        )
        self.judge(module, cls, path, role)
        if loader == "FunctionNode":
            content = node.get("content")
            if isinstance(content, dict) and ("module_path" in content or "function" in content):
                mp, fn = content.get("module_path"), content.get("function")
                if not isinstance(mp, str) or not isinstance(fn, str):
                    self.issue(R_MALFORMED, f"protocol-0 FunctionNode at {path} without module_path/function",
                               path=path)
                else:
                    self.judge(mp, fn, path, "function reference")
        elif loader == "MethodNode":
            self._method(path, node, module, cls)
        elif loader == "OperatorFuncNode" and module != "operator":
            self.issue(R_MALFORMED, f"OperatorFuncNode at {path} declares module {module[:80]!r}, not 'operator'",
                       path=path)
        elif loader == "RandomGeneratorNode":
            name = _bit_generator_name(node)
            if name is None:
                self.issue(R_MALFORMED, f"RandomGeneratorNode at {path} without a bit generator name", path=path)
            else:
                self.judge("numpy.random", name, path, "bit generator")
        elif loader in ("NdArrayNode", "SparseMatrixNode"):
            kind = node.get("type")
            if kind not in ("numpy", "json", "scipy"):
                self.issue(R_MALFORMED, f"{loader} at {path} has unknown type {str(kind)[:40]!r}", path=path)
            elif kind in ("numpy", "scipy") and not isinstance(node.get("file"), str):
                self.issue(R_MALFORMED, f"{loader} at {path} without a file name", path=path)

    def _method(self, path: str, node: dict[str, Any], module: str, cls: str) -> None:
        content = node.get("content")
        if not isinstance(content, dict) or not isinstance(content.get("func"), str) or not isinstance(
            content.get("obj"), dict
        ):
            self.issue(R_MALFORMED, f"MethodNode at {path} without content.func/content.obj", path=path)
            return
        obj = content["obj"]
        if obj.get("__loader__") != "CachedNode" and (
            obj.get("__module__") != module or obj.get("__class__") != cls
        ):
            self.issue(R_MALFORMED, f"MethodNode at {path} binds {content['func'][:60]!r} of "
                       f"{str(obj.get('__module__'))[:60]}.{str(obj.get('__class__'))[:60]} but declares "
                       f"{module[:60]}.{cls[:60]}", path=path)
        self.judge(module, f"{cls}.{content['func']}", path, "bound method")


def _bit_generator_name(node: dict[str, Any]) -> str | None:
    try:
        name_state = node["content"]["bit_generator"]["content"]["bit_generator"]
        name = json.loads(name_state["content"])
    except (KeyError, TypeError, ValueError):
        return None
    return name if isinstance(name, str) else None


def analyze_skops_schema(schema: Any, ctx: ScanContext) -> None:
    """Audit a parsed ``schema.json`` of a ``.skops`` file (never loads it). Records coverage
    ``skops-schema`` with the node count."""
    if not isinstance(schema, dict):
        ctx.issue(R_MALFORMED, f"schema.json is a {type(schema).__name__}, not an object")
        return
    protocol = schema.get("protocol")
    if isinstance(protocol, bool) or not isinstance(protocol, int) or protocol < 0:
        ctx.issue(R_MALFORMED, f"invalid skops protocol {str(protocol)[:40]!r} (expected a non-negative integer)",
                  details={"protocol": str(protocol)[:40]})
        return
    if protocol > MAX_PROTOCOL:
        ctx.unsupported(R_PROTOCOL, f"skops protocol {protocol} is newer than the analysed protocols (<= "
                        f"{MAX_PROTOCOL}); the tree is audited with current node semantics",
                        details={"protocol": protocol})
    audit = _Audit(ctx)
    stack: list[tuple[str, Any, bool]] = [("$", schema, True)]
    steps = 0
    while stack:
        path, value, is_node = stack.pop()
        steps += 1
        if steps % 4096 == 0:
            ctx.check_time()
        if isinstance(value, dict):
            if is_node or "__loader__" in value:
                audit.node(path, value)
            for k, v in reversed(list(_children(value))):
                stack.append((f"{path}.{k}", v, False))
        elif isinstance(value, list):
            for i in range(len(value) - 1, -1, -1):
                if isinstance(value[i], (dict, list)):
                    stack.append((f"{path}[{i}]", value[i], False))
    if audit.allowed:
        ctx.details["skops_allowed_types"] = audit.allowed
    ctx.covered("skops-schema", f"protocol {protocol}, {audit.nodes} nodes, {len(audit.judged)} distinct types")
