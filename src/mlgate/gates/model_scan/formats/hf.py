"""Hugging Face model folders and MLflow models: the documents that make a loader run code that is
not in the weights.

* ``auto_map`` in ``config.json`` / ``tokenizer_config.json`` / ``processor_config.json`` ... makes
  ``from_pretrained(..., trust_remote_code=True)`` import ``modeling_*.py`` from the folder (or,
  with ``"org/repo--module.Class"``, from *another* repository we never scanned);
  ``custom_pipelines`` does the same for pipelines; sentence-transformers ``modules.json`` imports
  each module's ``type``; PEFT ``adapter_config.json`` ``auto_mapping`` imports ``parent_library``.
* Python / shell files shipped beside the weights are that code (``MLG-HF-CUSTOM-CODE``); calls
  that execute code or processes in them are critical (``MLG-HF-CODE-EXEC``). The Python is parsed
  with :mod:`ast`, never imported or run.
* Chat templates (``chat_template`` in ``tokenizer_config.json``, ``chat_template.json``,
  ``processor_config.json``, ``*.jinja``) go through :func:`check_jinja_template`.
* MLflow ``MLmodel``: flavours whose ``loader_module`` is outside ``mlflow``, ``code`` /
  ``code_paths`` directories, cloudpickled ``python_model`` and models-from-code.

Custom code is reported at ``custom_code_severity`` (policy ``gates.model-scan``; high by
default), so a team that reviews its own modeling code can lower it or waive the file by name.
"""

from __future__ import annotations

import ast
import hashlib
import re
from typing import Any

from mlgate.gates.model_scan.context import BudgetExceeded, ScanContext
from mlgate.gates.model_scan.formats import advisories, safeyaml
from mlgate.gates.model_scan.formats.configs import check_config_document
from mlgate.gates.model_scan.formats.templates import check_jinja_template
from mlgate.gates.model_scan.rules import rule
from mlgate.model import FindingKind, Severity

HF_REFS = (
    "https://huggingface.co/docs/transformers/en/custom_models",
    "https://huggingface.co/docs/transformers/en/chat_templating",
)
R_AUTO_MAP = rule(
    "MLG-HF-AUTO-MAP",
    "Model config maps classes to custom code (auto_map / trust_remote_code)",
    Severity.HIGH,
    "Loading with trust_remote_code=True runs the named modules. Review them and waive this finding by file, "
    "or use a model whose architecture ships with transformers.",
    HF_REFS,
)
R_CUSTOM_MODULE = rule(
    "MLG-HF-CUSTOM-MODULE",
    "Model folder makes its loader import a module named in a config",
    Severity.HIGH,
    "sentence-transformers modules.json 'type' and PEFT auto_mapping 'parent_library' are imported by the "
    "loader; use the library's own module names or review the code.",
    ("https://www.sbert.net/docs/sentence_transformer/usage/custom_models.html",),
)
R_CUSTOM_CODE = rule(
    "MLG-HF-CUSTOM-CODE",
    "Code file shipped with the model (runs with trust_remote_code or by hand)",
    Severity.HIGH,
    "Review the code and waive this finding for the file, or remove the code from the model folder.",
    HF_REFS,
)
R_CODE_EXEC = rule(
    "MLG-HF-CODE-EXEC",
    "Code shipped with the model executes code, processes or network calls",
    Severity.CRITICAL,
    "Model code has no reason to run shell commands, eval strings or open sockets; treat the model as hostile.",
    HF_REFS,
)
R_MALFORMED = rule(
    "MLG-HF-MALFORMED",
    "Model folder document has an unexpected shape",
    Severity.MEDIUM,
    "A chat template or auto_map entry of the wrong type is ignored by some loaders and used by others; fix "
    "the document.",
    HF_REFS,
)
MLFLOW_REFS = ("https://mlflow.org/docs/latest/models.html#storage-format",)
R_MLFLOW_CODE = rule(
    "MLG-MLFLOW-CUSTOM-CODE",
    "MLflow model loads custom code (loader_module, code paths, python_model)",
    Severity.HIGH,
    "mlflow.pyfunc.load_model imports the loader module, adds the code paths to sys.path and unpickles the "
    "python_model (cloudpickle, by-value code). Review the code and waive by file, or log the model with a "
    "built-in flavour.",
    MLFLOW_REFS,
)
R_YAML_REFUSED = rule(
    "MLG-YAML-REFUSED",
    "YAML document refused: alias expansion bomb, excessive nesting or size",
    Severity.HIGH,
    "Model folder YAML (MLmodel, conda.yaml, configs) has no use for hundreds of aliases or deep nesting; "
    "a 'billion laughs' document exhausts the memory of whatever reads it. Do not load the model.",
    ("https://en.wikipedia.org/wiki/Billion_laughs_attack",),
    cwe=("CWE-776", "CWE-400"),
)
R_YAML_CODE_TAG = rule(
    "MLG-YAML-CODE-TAG",
    "YAML document carries a !!python tag (calls code under yaml.unsafe_load / FullLoader)",
    Severity.CRITICAL,
    "A python/object, python/name or python/module tag builds objects or calls functions when loaded with an "
    "unsafe loader. Treat the model as hostile.",
    ("https://pyyaml.org/wiki/PyYAMLDocumentation",),
    cwe=("CWE-502",),
    advisories=("CVE-2020-14343", "CVE-2017-18342"),
)
R_YAML_MALFORMED = rule(
    "MLG-YAML-MALFORMED",
    "YAML document does not parse",
    Severity.MEDIUM,
    "A YAML file that does not parse cannot be checked for code references; fix or remove it.",
    kind=FindingKind.UNSUPPORTED,
)
R_MLFLOW_MALFORMED = rule(
    "MLG-MLFLOW-MALFORMED",
    "MLmodel file has an unexpected shape",
    Severity.MEDIUM,
    "The MLmodel document must be a mapping with a 'flavors' mapping; re-log the model.",
    MLFLOW_REFS,
)

TEMPLATE_DOCS = frozenset({"tokenizer_config.json", "chat_template.json", "processor_config.json",
                           "preprocessor_config.json", "video_preprocessor_config.json"})
MAX_IMPORT_LINES = 15
IMPORT_LINE = re.compile(r"^\s*(?:import\s+[\w.]+|from\s+[\w.]+\s+import\b)")
# Calls that execute code or processes (critical) or reach the network (high).
EXEC_BUILTINS = frozenset({"eval", "exec", "compile", "__import__", "execfile", "breakpoint"})
EXEC_ATTRS: dict[str, frozenset[str]] = {
    "os": frozenset({"system", "popen", "execl", "execle", "execlp", "execlpe", "execv", "execve", "execvp",
                     "execvpe", "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv", "spawnve", "spawnvp",
                     "spawnvpe", "posix_spawn", "posix_spawnp", "fork", "forkpty", "startfile"}),
    "subprocess": frozenset({"*"}),
    "pty": frozenset({"spawn", "fork"}),
    "ctypes": frozenset({"*"}),
    "marshal": frozenset({"loads", "load"}),
    "pickle": frozenset({"loads", "load"}),
    "runpy": frozenset({"*"}),
    "code": frozenset({"*"}),
    "commands": frozenset({"*"}),
}
NETWORK_MODULES = frozenset({"socket", "urllib", "urllib2", "urllib3", "requests", "http", "httpx", "aiohttp",
                             "ftplib", "smtplib", "telnetlib", "paramiko"})


def _severity_at_least(a: Severity, b: Severity) -> Severity:
    return a if a.at_least(b) else b


# ---------------------------------------------------------------------------------------------
# JSON documents
# ---------------------------------------------------------------------------------------------


def _auto_map_refs(auto_map: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(module names, cross-repository references) named by an auto_map."""
    refs: list[str] = []
    for v in auto_map.values():
        if isinstance(v, str):
            refs.append(v)
        elif isinstance(v, (list, tuple)):
            refs.extend(x for x in v if isinstance(x, str))
    modules: list[str] = []
    remote: list[str] = []
    for ref in refs:
        target = ref
        if "--" in ref:
            remote.append(ref)
            target = ref.split("--", 1)[1]
        mod = target.rsplit(".", 1)[0] if "." in target else target
        if mod not in modules:
            modules.append(mod)
    return modules, remote


def _check_auto_map(name: str, data: dict[str, Any], ctx: ScanContext) -> None:
    auto_map = data.get("auto_map")
    if auto_map is None:
        return
    if not isinstance(auto_map, dict):
        ctx.issue(R_MALFORMED, f"{name}: auto_map is a {type(auto_map).__name__}, not an object",
                  details={"document": name})
        return
    modules, remote = _auto_map_refs(auto_map)
    severity = ctx.config.custom_code_severity
    message = f"{name}: auto_map loads custom code from {', '.join(modules[:10]) or '(unnamed modules)'}"
    if remote:
        severity = _severity_at_least(severity, Severity.HIGH)
        message += f"; {len(remote)} reference(s) point at code in another repository, which was not scanned"
    ctx.issue(R_AUTO_MAP, message, severity=severity,
              details={"document": name, "modules": modules[:50], "remote": remote[:20],
                       "classes": sorted(str(k) for k in auto_map)[:50]})


def _check_custom_pipelines(name: str, data: dict[str, Any], ctx: ScanContext) -> None:
    pipes = data.get("custom_pipelines")
    if not isinstance(pipes, dict) or not pipes:
        return
    impls = sorted({str(p.get("impl")) for p in pipes.values() if isinstance(p, dict) and p.get("impl")})
    ctx.issue(R_AUTO_MAP, f"{name}: custom_pipelines load custom code ({', '.join(impls[:10]) or 'unnamed'})",
              severity=ctx.config.custom_code_severity,
              details={"document": name, "pipelines": sorted(str(k) for k in pipes)[:50], "impl": impls[:50]})


def _check_templates(name: str, data: dict[str, Any], ctx: ScanContext) -> None:
    tpl = data.get("chat_template")
    if tpl is None:
        return
    if isinstance(tpl, str):
        check_jinja_template(tpl, ctx, f"{name}:chat_template")
    elif isinstance(tpl, list):
        for i, item in enumerate(tpl):
            if isinstance(item, dict) and isinstance(item.get("template"), str):
                label = item.get("name") if isinstance(item.get("name"), str) else str(i)
                check_jinja_template(item["template"], ctx, f"{name}:chat_template[{label}]")
            else:
                ctx.issue(R_MALFORMED, f"{name}: chat_template[{i}] is not a {{name, template}} object",
                          details={"document": name})
    elif isinstance(tpl, dict):
        for k, v in tpl.items():
            if isinstance(v, str):
                check_jinja_template(v, ctx, f"{name}:chat_template[{k}]")
            else:
                ctx.issue(R_MALFORMED, f"{name}: chat_template[{k!r}] is not a string", details={"document": name})
    else:
        ctx.issue(R_MALFORMED, f"{name}: chat_template is a {type(tpl).__name__}", details={"document": name})


def _check_modules_json(name: str, data: Any, ctx: ScanContext) -> None:
    if not isinstance(data, list):
        return
    custom = sorted({
        str(m["type"]) for m in data
        if isinstance(m, dict) and isinstance(m.get("type"), str) and not m["type"].startswith("sentence_transformers.")
    })
    if custom:
        ctx.issue(R_CUSTOM_MODULE, f"{name}: sentence-transformers imports custom module(s) {', '.join(custom[:10])}",
                  severity=ctx.config.custom_code_severity, details={"document": name, "types": custom[:50]})


def _check_adapter_config(name: str, data: dict[str, Any], ctx: ScanContext) -> None:
    mapping = data.get("auto_mapping")
    if not isinstance(mapping, dict):
        return
    lib = mapping.get("parent_library")
    if isinstance(lib, str) and lib.split(".")[0] not in ("transformers", "peft", "diffusers"):
        ctx.issue(R_CUSTOM_MODULE, f"{name}: PEFT auto_mapping imports parent_library {lib[:100]!r}",
                  severity=ctx.config.custom_code_severity,
                  details={"document": name, "parent_library": lib[:100],
                           "base_model_class": str(mapping.get("base_model_class"))[:100]})


def check_json_document(name: str, data: Any, ctx: ScanContext) -> None:
    """Check a parsed JSON document of a model folder. ``name`` is the file's base name
    (``config.json``, ``tokenizer_config.json``, ``chat_template.json``, ``modules.json``, ...)."""
    base = name.rsplit("/", 1)[-1].lower()
    if base == "modules.json":
        _check_modules_json(name, data, ctx)
    if isinstance(data, dict):
        _check_auto_map(name, data, ctx)
        if base == "config.json":
            _check_custom_pipelines(name, data, ctx)
        if base in TEMPLATE_DOCS or "chat_template" in data:
            _check_templates(name, data, ctx)
        if base == "adapter_config.json":
            _check_adapter_config(name, data, ctx)
    check_config_document(name, data, ctx, resolvers=False)
    if isinstance(data, dict) and base == "config.json" and isinstance(data.get("transformers_version"), str):
        advisories.check_pins(name, [("transformers", data["transformers_version"], 0)], ctx, declared=False)
    ctx.covered("hf-json", name)


def parse_yaml_document(name: str, text: str, ctx: ScanContext) -> tuple[bool, Any]:
    """Parse YAML with the scanner's one bounded loader; (parsed, data). Refusals are findings."""
    import yaml

    bounds = safeyaml.YamlBounds(max_bytes=ctx.config.limits.max_json_bytes)
    try:
        return True, safeyaml.load_yaml(text, bounds, ctx.check_time)
    except safeyaml.YamlRefused as e:
        ctx.issue(R_YAML_REFUSED, f"{name}: {e}", details={"document": name})
    except safeyaml.YamlCodeTag as e:
        ctx.issue(R_YAML_CODE_TAG, f"{name}: {e.tag}", line=e.line, details={"document": name, "tag": e.tag})
    except BudgetExceeded:
        raise
    except yaml.YAMLError as e:
        ctx.unsupported(R_YAML_MALFORMED, f"{name}: YAML does not parse: {str(e)[:300]}")
    return False, None


def check_requirements_file(name: str, text: str, ctx: ScanContext) -> None:
    """``requirements.txt`` of an MLflow model (what the serving environment installs)."""
    advisories.check_pins(name, advisories.requirements_pins(text), ctx, declared=True)


def check_yaml_document(name: str, text: str, ctx: ScanContext) -> None:
    """A YAML file of a model folder: ``MLmodel``, ``conda.yaml``, ``python_env.yaml``, Hydra/NeMo/
    Lightning configs. Parsed with the bounded loader, then judged for code references."""
    ok, data = parse_yaml_document(name, text, ctx)
    if not ok:
        return
    base = name.rsplit("/", 1)[-1]
    if base == "MLmodel":
        check_mlflow_mlmodel(data, ctx)
        advisories.check_pins(name, advisories.mlmodel_pins(data), ctx, declared=True)
    elif base == "conda.yaml":
        advisories.check_pins(name, advisories.conda_pins(data), ctx, declared=True)
    check_config_document(name, data, ctx)
    ctx.covered("yaml", name)


def check_template_file(name: str, text: str, ctx: ScanContext) -> None:
    """A standalone Jinja chat template (``chat_template.jinja``, ``additional_chat_templates/*.jinja``)."""
    check_jinja_template(text, ctx, name)


# ---------------------------------------------------------------------------------------------
# Code files
# ---------------------------------------------------------------------------------------------


def _python_calls(tree: ast.AST) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(exec-like calls, network use) as (line, description). Aliases of imported modules are
    followed (``import subprocess as sp; sp.run``)."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    execs: list[tuple[int, str]] = []
    network: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for m in mods:
                if m.split(".")[0] in NETWORK_MODULES:
                    network.append((node.lineno, f"import {m}"))
            continue
        if not isinstance(node, ast.Call):
            continue
        dotted = _dotted(node.func, aliases)
        if dotted is None:
            continue
        top, _, attr = dotted.rpartition(".")
        if not top and attr in EXEC_BUILTINS:
            execs.append((node.lineno, f"{attr}()"))
            continue
        root = dotted.split(".")[0]
        if top:
            allowed = EXEC_ATTRS.get(top) or EXEC_ATTRS.get(root)
            if allowed is not None and ("*" in allowed or attr in allowed):
                execs.append((node.lineno, f"{dotted}()"))
                continue
        if root in NETWORK_MODULES:
            network.append((node.lineno, f"{dotted}()"))
    return execs, network


def _dotted(func: ast.expr, aliases: dict[str, str]) -> str | None:
    parts: list[str] = []
    cur: ast.expr = func
    while isinstance(cur, ast.Attribute):
        parts.append(cur.attr)
        cur = cur.value
    if not isinstance(cur, ast.Name):
        return None
    head = aliases.get(cur.id, cur.id)
    return ".".join([head, *reversed(parts)])


def check_code_file(name: str, text: str, ctx: ScanContext) -> None:
    """Python source (``*.py``, Python shebang scripts) or shell scripts shipped beside weights."""
    lines = text.splitlines()
    first = lines[0] if lines else ""
    is_python = name.endswith((".py", ".pyw", ".pyi")) or (first.startswith("#!") and "python" in first)
    kind = "python" if is_python else ("shell" if name.endswith((".sh", ".bash")) or first.startswith("#!") else "code")
    imports = [ln.strip() for ln in lines if IMPORT_LINE.match(ln)][:MAX_IMPORT_LINES] if is_python else []
    details: dict[str, Any] = {"file": name, "kind": kind, "lines": len(lines), "imports": imports,
                               "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}
    if not is_python:
        details["head"] = [ln[:200] for ln in lines[:MAX_IMPORT_LINES]]
    reviewed = details["sha256"] in {d.lower() for d in ctx.config.reviewed_code_sha256}
    ctx.issue(R_CUSTOM_CODE, f"{name}: {kind} code shipped with the model"
              + (f" (imports {', '.join(_import_names(imports)[:8])})" if imports else "")
              + (" (reviewed digest)" if reviewed else ""),
              severity=Severity.INFO if reviewed else ctx.config.custom_code_severity, details=details)
    if is_python:
        try:
            tree = ast.parse(text, filename=name)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
            details["parse_error"] = str(e)[:200]
        else:
            execs, network = _python_calls(tree)
            if execs:
                ctx.issue(R_CODE_EXEC, f"{name}: executes code or processes: "
                          + ", ".join(f"{d} (line {ln})" for ln, d in execs[:8]),
                          line=execs[0][0], details={"file": name, "calls": [f"{ln}: {d}" for ln, d in execs[:50]]})
            if network:
                ctx.issue(R_CODE_EXEC, f"{name}: uses the network: "
                          + ", ".join(f"{d} (line {ln})" for ln, d in network[:8]),
                          severity=Severity.HIGH, line=network[0][0],
                          details={"file": name, "calls": [f"{ln}: {d}" for ln, d in network[:50]]})
    ctx.covered("custom-code", name)


def _import_names(lines: list[str]) -> list[str]:
    out: list[str] = []
    for ln in lines:
        parts = ln.split()
        if len(parts) >= 2 and parts[1] not in out:
            out.append(parts[1])
    return out


# ---------------------------------------------------------------------------------------------
# MLflow
# ---------------------------------------------------------------------------------------------


def check_mlflow_mlmodel(data: Any, ctx: ScanContext) -> None:
    """A parsed MLflow ``MLmodel`` (YAML) document."""
    if not isinstance(data, dict):
        ctx.issue(R_MLFLOW_MALFORMED, f"MLmodel is a {type(data).__name__}, not a mapping")
        return
    flavors = data.get("flavors")
    if not isinstance(flavors, dict):
        ctx.issue(R_MLFLOW_MALFORMED, "MLmodel has no 'flavors' mapping")
        return
    severity = ctx.config.custom_code_severity
    reasons: list[str] = []
    if data.get("code_paths") or data.get("code"):
        reasons.append(f"code paths {str(data.get('code_paths') or data.get('code'))[:100]}")
    for fname, fl in flavors.items():
        if not isinstance(fl, dict):
            ctx.issue(R_MLFLOW_MALFORMED, f"flavor {str(fname)[:60]!r} is not a mapping")
            continue
        loader = fl.get("loader_module")
        if loader is not None and (not isinstance(loader, str) or not (loader == "mlflow" or loader.startswith("mlflow."))):
            reasons.append(f"flavor {fname}: loader_module {str(loader)[:100]!r} is outside mlflow")
        for key in ("code", "code_paths"):
            if fl.get(key):
                reasons.append(f"flavor {fname}: {key} {str(fl[key])[:100]!r} is added to sys.path")
        if fl.get("python_model"):
            reasons.append(f"flavor {fname}: python_model {str(fl['python_model'])[:100]!r} is a cloudpickled "
                           "PythonModel (by-value code)")
        for key in ("model_code_path", "model_code"):
            if fl.get(key):
                reasons.append(f"flavor {fname}: {key} {str(fl[key])[:100]!r} (model from code) is executed")
    for reason in reasons:
        ctx.issue(R_MLFLOW_CODE, reason, severity=severity, details={"flavors": sorted(str(k) for k in flavors)})
    ctx.covered("mlflow-mlmodel", f"{len(flavors)} flavors")
