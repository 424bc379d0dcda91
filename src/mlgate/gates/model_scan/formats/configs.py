"""Configuration files as code references: YAML/JSON documents that a loader *instantiates*.

* Hydra / OmegaConf ``instantiate`` (NeMo ``model_config.yaml``, many training repos): every
  mapping with ``_target_: pkg.mod.Name`` imports ``pkg.mod`` and *calls* ``Name(*_args_, **rest)``
  (``_partial_: true`` wraps it in ``functools.partial``; nested ``_target_`` mappings are
  instantiated first, ``_recursive_`` defaults to true). NeMo's ``restore_from`` instantiates the
  archive's ``model_config.yaml`` this way: CVE-2025-23304 (``_target_: builtins.eval``).
* Lightning CLI / jsonargparse: ``class_path: pkg.mod.Name`` + ``init_args`` is the same call.
* OmegaConf interpolations ``${resolver:...}`` call a registered resolver when the value is read;
  an ``eval``-like resolver (a common ``register_new_resolver("eval", eval)`` idiom) runs code.

Each reference is judged like a pickle global, by the same :class:`GlobalsPolicy` the pickle
engine uses (denylist wins, then the policy's allowlist, everything else is unknown at the policy's
``unknown_globals`` severity): deny by default. A reference is a dotted path whose module/attribute
split is unknown until import time (Hydra's ``_locate`` imports the longest importable prefix), so
every split is judged: any dangerous split is dangerous, an allowlisted split is allowed.

The walk is iterative, visits each container object once (a YAML alias is not walked twice), and
stops at ``MAX_NODES`` / the file deadline with a limit finding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mlgate.gates.model_scan.context import ScanContext
from mlgate.gates.model_scan.globals_policy import GlobalJudgement, GlobalsPolicy, GlobalStatus
from mlgate.gates.model_scan.rules import rule
from mlgate.model import Severity

REFS = (
    "https://hydra.cc/docs/advanced/instantiate_objects/overview/",
    "https://nvd.nist.gov/vuln/detail/CVE-2025-23304",
    "https://lightning.ai/docs/pytorch/stable/cli/lightning_cli_advanced_3.html",
)
R_TARGET_DANGEROUS = rule(
    "MLG-CONFIG-TARGET-DANGEROUS",
    "Config instantiates a callable that reaches code, processes, files or the network",
    Severity.CRITICAL,
    "Hydra/OmegaConf instantiate, NeMo restore_from and LightningCLI import and call this target when the "
    "model is loaded. Treat the model as hostile; do not load it.",
    REFS,
    cwe=("CWE-94", "CWE-502"),
    advisories=("CVE-2025-23304",),
)
R_TARGET_UNKNOWN = rule(
    "MLG-CONFIG-TARGET-UNKNOWN",
    "Config instantiates a callable that is not on the allowlist",
    Severity.HIGH,
    "The loader imports and calls this target with arguments from the file. Review it and add the object to "
    "the policy's allowlist (with a reason), or waive the finding for this file.",
    REFS,
    cwe=("CWE-94",),
)
R_TARGET_MALFORMED = rule(
    "MLG-CONFIG-TARGET-MALFORMED",
    "Config has a _target_/class_path that is not a dotted name",
    Severity.HIGH,
    "A target that is not a plain dotted name cannot be judged; Hydra may still resolve it. Fix the config.",
    REFS,
    cwe=("CWE-94",),
)
R_RESOLVER = rule(
    "MLG-CONFIG-RESOLVER",
    "Config value calls an OmegaConf resolver",
    Severity.MEDIUM,
    "Interpolations such as ${eval:...} or ${oc.env:...} call code or read the environment when the config is "
    "read; model configs need neither.",
    ("https://omegaconf.readthedocs.io/en/latest/custom_resolvers.html",),
    cwe=("CWE-94",),
)

TARGET_KEYS = ("_target_", "class_path")
MAX_NODES = 2_000_000
MAX_REPORTED = 200
DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
RESOLVER = re.compile(r"\$\{\s*([A-Za-z_][\w.\-]*)\s*:")
# OmegaConf's built-in resolvers that only restructure the config itself.
SAFE_RESOLVERS = frozenset({"oc.select", "oc.create", "oc.deprecated", "oc.dict.keys", "oc.dict.values"})
CODE_RESOLVERS = frozenset({"eval", "exec", "python", "py", "lambda", "import", "call", "oc.eval"})


@dataclass(frozen=True)
class Reference:
    key: str  # _target_ / class_path
    target: str
    where: str  # dotted path inside the document
    judgement: GlobalJudgement


def judge_reference(policy: GlobalsPolicy, dotted: str) -> GlobalJudgement:
    """Judge a dotted path as every module/attribute split would resolve. Thin adapter over
    :meth:`GlobalsPolicy.judge` (which takes a (module, name) pair)."""
    parts = dotted.split(".")
    if len(parts) == 1:  # Hydra's _locate: a bare name is a module or a builtins attribute
        return policy.judge("builtins", dotted)
    judgements = [policy.judge(".".join(parts[:i]), ".".join(parts[i:])) for i in range(len(parts) - 1, 0, -1)]
    for status in (GlobalStatus.DANGEROUS, GlobalStatus.ALLOWED):
        for j in judgements:
            if j.status is status:
                return j
    return judgements[0]


def find_references(data: Any, ctx: ScanContext, *, resolvers_too: bool = True,
                    ) -> tuple[list[Reference], list[tuple[str, str]], list[str]]:
    """(references, malformed (where, repr), resolver uses) in a parsed document."""
    refs: list[Reference] = []
    malformed: list[tuple[str, str]] = []
    resolvers: list[str] = []
    seen: set[int] = set()
    stack: list[tuple[Any, str]] = [(data, "")]
    n = 0
    while stack:
        node, where = stack.pop()
        n += 1
        if not n & 4095:
            ctx.check_time()
        if n > MAX_NODES:
            ctx.limit(f"config has more than {MAX_NODES} nodes; the rest was not checked for code references")
            break
        if isinstance(node, str):
            if not resolvers_too or "${" not in node:
                continue
            for m in RESOLVER.finditer(node[:100_000]):
                resolvers.append(f"{where or '.'}: ${{{m.group(1)}:...}}")
            continue
        if not isinstance(node, (dict, list, tuple)):
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, dict):
            for key in TARGET_KEYS:
                if key in node:
                    t = node[key]
                    here = f"{where}.{key}" if where else key
                    if isinstance(t, str) and DOTTED.match(t.strip()) and len(t) < 1000:
                        refs.append(Reference(key, t.strip(), here, judge_reference(ctx.globals_policy, t.strip())))
                    elif key == "_target_" or isinstance(t, str):
                        malformed.append((here, repr(t)[:200]))
            for k, v in node.items():
                if resolvers_too and isinstance(k, str) and "${" in k:
                    for m in RESOLVER.finditer(k[:10_000]):
                        resolvers.append(f"{where or '.'}: key ${{{m.group(1)}:...}}")
                stack.append((v, f"{where}.{k}" if where else str(k)[:200]))
        else:
            for i, v in enumerate(node):
                stack.append((v, f"{where}[{i}]"))
    return refs, malformed, resolvers


def check_config_document(name: str, data: Any, ctx: ScanContext, *, resolvers: bool = True) -> int:
    """Judge every instantiation target of a parsed YAML/JSON document; returns how many were found.
    Safe to call on any document: one without targets or resolvers reports nothing. ``resolvers``:
    also report OmegaConf interpolations (YAML configs; JSON documents such as tokenizer vocabularies
    are not read through OmegaConf)."""
    refs, malformed, resolvers_found = find_references(data, ctx, resolvers_too=resolvers)
    for r in refs[:MAX_REPORTED]:
        j = r.judgement
        details = {"document": name, "key": r.key, "target": r.target, "where": r.where, "reason": j.reason}
        if j.status is GlobalStatus.DANGEROUS:
            ctx.issue(R_TARGET_DANGEROUS, f"{name}: {r.where} = {r.target} ({j.reason})", details=details)
        elif j.status is GlobalStatus.UNKNOWN:
            ctx.issue(R_TARGET_UNKNOWN, f"{name}: {r.where} = {r.target} is not on the allowlist",
                      severity=j.severity, details=details)
    if len(refs) > MAX_REPORTED:
        bad = [r for r in refs[MAX_REPORTED:] if r.judgement.status is not GlobalStatus.ALLOWED]
        if bad:
            worst = max((r.judgement.severity for r in bad), key=lambda s: s.rank)
            rid = R_TARGET_DANGEROUS if any(r.judgement.status is GlobalStatus.DANGEROUS for r in bad) \
                else R_TARGET_UNKNOWN
            ctx.issue(rid, f"{name}: {len(bad)} more targets outside the allowlist "
                      f"({', '.join(sorted({r.target for r in bad})[:10])})", severity=worst)
    for where, rep in malformed[:MAX_REPORTED]:
        ctx.issue(R_TARGET_MALFORMED, f"{name}: {where} = {rep}", details={"document": name, "where": where})
    for use in resolvers_found[:MAX_REPORTED]:
        res = use.split("${", 1)[1].split(":", 1)[0]
        if res in SAFE_RESOLVERS:
            continue
        sev = Severity.CRITICAL if res in CODE_RESOLVERS else Severity.LOW if res == "oc.env" else Severity.MEDIUM
        ctx.issue(R_RESOLVER, f"{name}: {use}", severity=sev, details={"document": name, "resolver": res})
    if refs or malformed:
        allowed = sum(1 for r in refs if r.judgement.status is GlobalStatus.ALLOWED)
        ctx.covered("config-targets", f"{name}: {len(refs)} targets, {allowed} allowlisted")
    return len(refs)
