"""Chat templates (Jinja2) that reach Python internals: the CVE-2024-34359 class.

A chat template ships inside a GGUF file (``tokenizer.chat_template``) or a Hugging Face folder
(``tokenizer_config.json``, ``chat_template.json``, ``chat_template.jinja``) and is rendered by the
inference server. When the server renders it with a plain ``jinja2.Environment`` (llama-cpp-python
before 0.2.72), ``{{ ''.__class__.__mro__[1].__subclasses__() }}`` reaches every class of the
interpreter, and from there ``os.popen``.

We **parse** the template into an AST with a sandboxed environment class and walk the AST; we
never compile or render it. What we flag:

* attribute or item access to dunder and interpreter-internal names (``__class__``,
  ``__globals__``, ``gi_frame``, ``func_globals``...), critical;
* string values that contain a dunder name, after folding constant expressions (``'__cla' ~
  'ss__'``, ``'_' * 2``, ``['_', '_']|join``, ``'%c'|format(95)``, ``'x'|replace(...)``), critical,
  since they feed ``attr``, ``format`` or an item access;
* attribute access to other underscore names (``_TemplateReference__context``), high, and
  critical when rooted at a Jinja/Flask global (``self``, ``config``, ``request``, ``lipsum``,
  ``cycler``, ``joiner``, ``namespace``, ``range``, ``dict``);
* ``attr`` / ``map(attribute=)`` / ``selectattr`` ... with names that are not constants, high;
* ``include`` / ``import`` / ``extends``: templates loading other templates, high;
* ``range`` with a huge constant, huge string/list repetition, large powers: denial of service,
  medium;
* a template that does not parse, high (the consumer's parser may differ from ours).

Plain use of ``namespace()``, ``raise_exception``, ``tojson``, loops and macros, as in the
Llama-3, Mistral, ChatML and tool-calling templates, is not flagged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import TemplateError
from jinja2.ext import Extension
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

from mlgate.gates.model_scan.context import ScanContext
from mlgate.gates.model_scan.rules import Rule, rule
from mlgate.model import Severity

REFS = (
    "https://github.com/abetlen/llama-cpp-python/security/advisories/GHSA-56xg-wfcc-g829",
    "https://nvd.nist.gov/vuln/detail/CVE-2024-34359",
    "https://jinja.palletsprojects.com/en/stable/sandbox/",
)
R_INTERNALS = rule(
    "MLG-TPL-PYTHON-INTERNALS",
    "Chat template reaches Python internals (dunder or interpreter-internal names)",
    Severity.CRITICAL,
    "Do not serve this model. A template rendered outside a Jinja sandbox runs arbitrary code through "
    "these names (CVE-2024-34359). Replace the chat template with the upstream one.",
    REFS,
)
R_PRIVATE = rule(
    "MLG-TPL-PRIVATE-ATTR",
    "Chat template accesses an underscore-prefixed attribute",
    Severity.HIGH,
    "Chat templates only need message fields; private attributes reach template-engine internals. "
    "Replace the chat template with the upstream one.",
    REFS,
)
R_DYNAMIC = rule(
    "MLG-TPL-DYNAMIC-ATTR",
    "Chat template looks up attributes by a computed name",
    Severity.HIGH,
    "attr()/map(attribute=)/selectattr with a name built at render time hides which attribute is read; "
    "use constant names.",
    REFS,
)
R_INCLUDE = rule(
    "MLG-TPL-INCLUDE",
    "Chat template loads other templates (include/import/extends)",
    Severity.HIGH,
    "A chat template must be self-contained; with a file-system loader these statements read local files.",
    REFS,
)
R_DOS = rule(
    "MLG-TPL-DOS",
    "Chat template can exhaust CPU or memory (huge range or repetition)",
    Severity.MEDIUM,
    "Remove the huge constants; rendering this template can stall the inference server.",
    REFS,
)
R_SYNTAX = rule(
    "MLG-TPL-SYNTAX",
    "Chat template does not parse",
    Severity.HIGH,
    "Templates that our parser rejects may parse differently elsewhere; replace it with the upstream template.",
    REFS,
)

# Names reachable from a template context in common environments (Jinja globals, Flask).
TEMPLATE_GLOBALS = frozenset(
    {"self", "config", "request", "lipsum", "cycler", "joiner", "namespace", "range", "dict", "loop",
     "caller", "varargs", "kwargs", "session", "g", "url_for", "get_flashed_messages"}
)
# Attribute names without underscores that still reach frames, code and globals.
INTERNAL_ATTRS = frozenset(
    {"func_globals", "func_code", "func_closure", "func_defaults", "f_globals", "f_locals", "f_builtins",
     "f_back", "f_code", "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await",
     "ag_frame", "ag_code", "ag_await", "tb_frame", "tb_next", "co_code", "co_consts", "im_func",
     "im_self", "im_class", "mro"}
)
DUNDER = re.compile(r"__[A-Za-z][A-Za-z0-9_]*?__")
FORMAT_PRIVATE = re.compile(r"\{[^{}]*?[.\[]_")  # "{0._TemplateReference__context}"
# Filters that read attributes by name: filter -> (positional index or None, keyword names).
ATTRIBUTE_FILTERS: dict[str, tuple[int | None, tuple[str, ...]]] = {
    "attr": (0, ("name",)),
    "map": (None, ("attribute",)),
    "selectattr": (0, ()),
    "rejectattr": (0, ()),
    "groupby": (0, ("attribute",)),
    "sort": (None, ("attribute",)),
    "sum": (None, ("attribute",)),
    "unique": (None, ("attribute",)),
    "min": (None, ("attribute",)),
    "max": (None, ("attribute",)),
}
MAX_RANGE = 100_000  # jinja2.sandbox.MAX_RANGE
MAX_REPEAT = 100_000
MAX_POWER = 1_000
_HUGE_WIDTH = re.compile(r"%[-+ #0]*[0-9]{6,}|\{[^{}]*:[^{}]*?[0-9]{6,}[^{}]*\}")
MAX_FOLD = 4096  # longest string we fold
MAX_FINDINGS_PER_TEMPLATE = 25


class _GenerationExtension(Extension):
    """Hugging Face transformers' ``{% generation %}...{% endgeneration %}`` block (assistant-token
    masks). Parsed as a plain block so templates that use it parse; never rendered."""

    tags = {"generation"}

    def parse(self, parser: Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body, lineno=lineno)


def _environment() -> ImmutableSandboxedEnvironment:
    # The sandbox class is used for parsing only; nothing is ever compiled or rendered.
    return ImmutableSandboxedEnvironment(
        extensions=["jinja2.ext.loopcontrols", "jinja2.ext.do", _GenerationExtension],
        autoescape=False,
    )


_ENV: ImmutableSandboxedEnvironment | None = None


def _env() -> ImmutableSandboxedEnvironment:
    global _ENV
    if _ENV is None:
        _ENV = _environment()
    return _ENV


# ---------------------------------------------------------------------------------------------
# constant folding (strings only; bounded)
# ---------------------------------------------------------------------------------------------


def _fold(node: nodes.Node | None, depth: int = 0) -> Any:
    """The value of a constant expression (str, int, float, bool, None, or a list/tuple of
    those), or ``_NOT_CONST``. Only the operations an attacker would use to spell a name."""
    if node is None or depth > 40:
        return _NOT_CONST
    if isinstance(node, nodes.Const):
        v = node.value
        if isinstance(v, str) and len(v) > MAX_FOLD:
            return _NOT_CONST
        return v
    if isinstance(node, nodes.TemplateData):
        return node.data if len(node.data) <= MAX_FOLD else _NOT_CONST
    if isinstance(node, (nodes.List, nodes.Tuple)):
        items = [_fold(i, depth + 1) for i in node.items]
        if any(i is _NOT_CONST for i in items):
            return _NOT_CONST
        return items
    if isinstance(node, nodes.Concat):
        parts = [_fold(n, depth + 1) for n in node.nodes]
        if any(p is _NOT_CONST or isinstance(p, list) for p in parts):
            return _NOT_CONST
        return _cap("".join(str(p) for p in parts))
    if isinstance(node, (nodes.Add, nodes.Mul, nodes.Mod)):
        left, right = _fold(node.left, depth + 1), _fold(node.right, depth + 1)
        if left is _NOT_CONST or right is _NOT_CONST:
            return _NOT_CONST
        try:
            if isinstance(node, nodes.Add) and isinstance(left, str) and isinstance(right, str):
                return _cap(left + right)
            if isinstance(node, nodes.Mul):
                s, n = (left, right) if isinstance(left, str) else (right, left)
                if isinstance(s, str) and isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= 64:
                    return _cap(s * n)
            if isinstance(node, nodes.Mod) and isinstance(left, str):
                return _percent(left, right)
        except (TypeError, ValueError, OverflowError):
            return _NOT_CONST
        return _NOT_CONST
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Slice):
        base = _fold(node.node, depth + 1)
        if not isinstance(base, str):
            return _NOT_CONST
        bounds = [_fold(x, depth + 1) if x is not None else None for x in (node.arg.start, node.arg.stop, node.arg.step)]
        if any(b is _NOT_CONST or (b is not None and not isinstance(b, int)) for b in bounds):
            return _NOT_CONST
        try:
            return base[slice(*bounds)]
        except ValueError:
            return _NOT_CONST
    if (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.Getattr)
        and node.node.attr in _STR_METHODS
        and not node.kwargs
        and node.dyn_args is None
        and node.dyn_kwargs is None
    ):
        base = _fold(node.node.node, depth + 1)
        args = [_fold(a, depth + 1) for a in node.args]
        if not isinstance(base, str) or any(a is _NOT_CONST for a in args):
            return _NOT_CONST
        return _fold_method(str(node.node.attr), base, args)
    if isinstance(node, nodes.Filter) and node.node is not None:
        base = _fold(node.node, depth + 1)
        args = [_fold(a, depth + 1) for a in node.args]
        if base is _NOT_CONST or any(a is _NOT_CONST for a in args):
            return _NOT_CONST
        return _fold_filter(node.name, base, args)
    return _NOT_CONST


class _NotConst:
    def __repr__(self) -> str:
        return "<not constant>"


_NOT_CONST: Any = _NotConst()


def _cap(s: str) -> Any:
    return s if len(s) <= MAX_FOLD else _NOT_CONST


def _fold_filter(name: str, base: Any, args: list[Any]) -> Any:
    try:
        if name == "join" and isinstance(base, (list, str)):
            sep = args[0] if args else ""
            if isinstance(sep, str):
                return _cap(sep.join(str(x) for x in base))
        if isinstance(base, str):
            if name in ("string", "trim", "lower", "upper", "capitalize", "title"):
                return {
                    "string": base, "trim": base.strip(), "lower": base.lower(), "upper": base.upper(),
                    "capitalize": base.capitalize(), "title": base.title(),
                }[name]
            if name == "reverse":
                return base[::-1]
            if name == "replace" and len(args) >= 2:
                return _replace(base, args[0], args[1])
            if name == "format":
                return _percent(base, args if len(args) != 1 else args[0])
            if name == "first" and base:
                return base[0]
            if name == "last" and base:
                return base[-1]
        if isinstance(base, int) and not isinstance(base, bool) and name == "string":
            return str(base)
        if isinstance(base, list):
            if name == "first" and base:
                return base[0]
            if name == "last" and base:
                return base[-1]
            if name == "reverse":
                return list(reversed(base))
    except (TypeError, ValueError, OverflowError, IndexError):
        return _NOT_CONST
    return _NOT_CONST


_STR_METHODS = frozenset({"format", "join", "replace", "upper", "lower", "strip", "lstrip", "rstrip"})
# Only plain conversions are folded: width/precision specs would let a template make *us* build
# huge strings, and attribute fields ("{0.x}") would make us read attributes.
_PERCENT_SPEC = re.compile(r"%(.)", re.S)
_BRACE_FIELD = re.compile(r"\{([^{}]*)\}")


def _percent(fmt: str, args: Any) -> Any:
    if any(m.group(1) not in "sdcr%" for m in _PERCENT_SPEC.finditer(fmt)):
        return _NOT_CONST
    values = tuple(args) if isinstance(args, list) else args
    try:
        return _cap(fmt % values)
    except (TypeError, ValueError, OverflowError, KeyError):
        return _NOT_CONST


def _replace(base: str, old: Any, new: Any) -> Any:
    if not isinstance(old, str) or not isinstance(new, str):
        return _NOT_CONST
    hits = base.count(old) if old else len(base) + 1
    if len(base) + hits * (len(new) - len(old)) > MAX_FOLD:
        return _NOT_CONST
    return base.replace(old, new)


def _fold_method(name: str, base: str, args: list[Any]) -> Any:
    if name == "format":
        if "{{" in base or "}}" in base:
            return _NOT_CONST
        fields = _BRACE_FIELD.findall(base)
        if any(f and not f.isdigit() for f in fields):
            return _NOT_CONST
        out: list[str] = []
        pos = 0
        for auto, m in enumerate(_BRACE_FIELD.finditer(base)):
            out.append(base[pos : m.start()])
            field = m.group(1)
            idx = int(field) if field else auto
            if idx >= len(args):
                return _NOT_CONST
            out.append(str(args[idx]))
            pos = m.end()
        out.append(base[pos:])
        return _cap("".join(out))
    if name == "join":
        if len(args) == 1 and isinstance(args[0], (list, str)):
            return _cap(base.join(str(x) for x in args[0]))
        return _NOT_CONST
    if name == "replace":
        return _replace(base, args[0], args[1]) if len(args) >= 2 else _NOT_CONST
    if args:
        return _NOT_CONST
    return {"upper": base.upper, "lower": base.lower, "strip": base.strip, "lstrip": base.lstrip,
            "rstrip": base.rstrip}[name]()


# ---------------------------------------------------------------------------------------------
# AST walk
# ---------------------------------------------------------------------------------------------


def _walk(root: nodes.Node) -> Iterator[nodes.Node]:
    stack: list[nodes.Node] = [root]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(list(n.iter_child_nodes())))


def _chain_root(node: nodes.Node) -> str | None:
    """The name at the root of an attribute/item/call/filter chain (``self`` in
    ``self._TemplateReference__context.x``)."""
    seen = 0
    cur: Any = node
    while seen < 200:
        seen += 1
        if isinstance(cur, nodes.Name):
            return str(cur.name)
        if isinstance(cur, (nodes.Getattr, nodes.Getitem, nodes.Call, nodes.Filter, nodes.Test)):
            cur = cur.node
            continue
        return None
    return None


def _name_problem(name: str) -> tuple[Rule, str] | None:
    """Is an attribute name a problem? Returns (rule, why)."""
    for part in name.split("."):
        if DUNDER.fullmatch(part) or (part.startswith("__") and len(part) > 2):
            return R_INTERNALS, f"dunder name {part!r}"
        if part in INTERNAL_ATTRS:
            return R_INTERNALS, f"interpreter-internal name {part!r}"
    for part in name.split("."):
        if part.startswith("_"):
            return R_PRIVATE, f"underscore name {part!r}"
    return None


def _int_const(node: nodes.Node | None) -> int | None:
    v = _fold(node)
    if isinstance(v, bool) or not isinstance(v, int):
        return None
    return v


class _Checker:
    def __init__(self, ctx: ScanContext, where: str) -> None:
        self.ctx = ctx
        self.where = where
        self.count = 0
        self.suppressed = 0
        self.seen: set[tuple[str, str]] = set()

    def report(self, r: Rule, key: str, message: str, node: nodes.Node | None, **details: Any) -> None:
        if (r.id, key) in self.seen:
            return
        self.seen.add((r.id, key))
        if self.count >= MAX_FINDINGS_PER_TEMPLATE:
            self.suppressed += 1
            return
        self.count += 1
        line = getattr(node, "lineno", None) if node is not None else None
        self.ctx.issue(
            r,
            f"{self.where}: {message}",
            line=line,
            details={"template": self.where, **details},
        )

    def attribute(self, name: str, node: nodes.Node, how: str) -> None:
        problem = _name_problem(name)
        if problem is None:
            return
        r, why = problem
        root = _chain_root(node)
        if r is R_PRIVATE and root in TEMPLATE_GLOBALS:
            r, why = R_INTERNALS, f"{why} on template global {root!r}"
        self.report(r, f"{how}:{name}", f"{how} {name!r} ({why})", node, attribute=name, root=root)

    def string_value(self, value: Any, node: nodes.Node) -> None:
        if not isinstance(value, str):
            return
        m = DUNDER.search(value)
        if m:
            self.report(
                R_INTERNALS, f"str:{m.group(0)}", f"string {_short(value)!r} contains dunder name {m.group(0)!r}",
                node, value=_short(value),
            )
            return
        for part in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", value):
            # only when it looks like an attribute path, not prose ("mro" in a sentence)
            if part in INTERNAL_ATTRS and (value == part or re.search(r"(^|\.)" + part + r"(\.|$)", value)):
                self.report(R_INTERNALS, f"str:{part}", f"string {_short(value)!r} names {part!r}", node,
                            value=_short(value))
                return
        if FORMAT_PRIVATE.search(value):
            self.report(R_PRIVATE, f"fmt:{_short(value)}",
                        f"format string {_short(value)!r} reads an underscore attribute", node, value=_short(value))

    def filter_attribute_arg(self, node: nodes.Filter) -> None:
        spec = ATTRIBUTE_FILTERS.get(node.name)
        if spec is None:
            return
        pos, kws = spec
        candidates: list[nodes.Node] = []
        if pos is not None and len(node.args) > pos:
            candidates.append(node.args[pos])
        candidates.extend(kw.value for kw in node.kwargs if kw.key in kws)
        if node.name == "map" and node.args:
            # map('attr', 'name') applies the attr filter to each item.
            first = _fold(node.args[0])
            if first == "attr" and len(node.args) > 1:
                candidates.append(node.args[1])
            elif first is _NOT_CONST:
                self.report(R_DYNAMIC, "map:filter", "map() applies a filter chosen at render time", node)
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            self.report(R_DYNAMIC, f"{node.name}:dyn", f"{node.name}() with *args/**kwargs", node, filter=node.name)
        for cand in candidates:
            value = _fold(cand)
            if isinstance(value, str):
                self.attribute(value, node, f"{node.name}() reads attribute")
            elif isinstance(value, int) and not isinstance(value, bool):
                continue  # map(attribute=0) indexes
            else:
                self.report(
                    R_DYNAMIC, f"{node.name}:{getattr(cand, 'lineno', 0)}",
                    f"{node.name}() reads an attribute whose name is computed at render time", node,
                    filter=node.name,
                )

    def dos(self, node: nodes.Node) -> None:
        if isinstance(node, nodes.Const) and isinstance(node.value, str):
            m = _HUGE_WIDTH.search(node.value)
            if m:
                self.report(R_DOS, f"width:{m.group(0)}", f"format width {m.group(0)!r}", node)
                return
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name == "range":
            for a in node.args:
                v = _int_const(a)
                if v is not None and abs(v) > MAX_RANGE:
                    self.report(R_DOS, f"range:{v}", f"range() with {v} items", node, value=v)
                    return
        elif isinstance(node, nodes.Mul):
            for side in (node.left, node.right):
                v = _int_const(side)
                if v is not None and abs(v) > MAX_REPEAT:
                    self.report(R_DOS, f"mul:{v}", f"repetition by {v}", node, value=v)
                    return
        elif isinstance(node, nodes.Pow):
            v = _int_const(node.right)
            if v is not None and abs(v) > MAX_POWER:
                self.report(R_DOS, f"pow:{v}", f"power with exponent {v}", node, value=v)

    def visit(self, n: nodes.Node) -> None:
        if isinstance(n, nodes.Getattr):
            self.attribute(str(n.attr), n, "attribute")
        elif isinstance(n, nodes.Getitem):
            key = _fold(n.arg)
            if isinstance(key, str):
                self.attribute(key, n, "item")
        elif isinstance(n, nodes.NSRef):
            self.attribute(str(n.attr), n, "namespace attribute")
        elif isinstance(n, nodes.Name):
            if DUNDER.fullmatch(str(n.name)):
                self.report(R_INTERNALS, f"name:{n.name}", f"name {n.name!r}", n, name=n.name)
        elif isinstance(n, nodes.Keyword):
            if DUNDER.fullmatch(str(n.key)):
                self.report(R_INTERNALS, f"kw:{n.key}", f"keyword argument {n.key!r}", n, name=n.key)
        elif isinstance(n, nodes.Filter):
            self.filter_attribute_arg(n)
        elif isinstance(n, (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
            kind = type(n).__name__.lower()
            self.report(R_INCLUDE, f"{kind}:{n.lineno}", f"{kind} statement loads another template", n)
        # Any foldable string expression: constants and the results of concatenation etc.
        if isinstance(
            n, (nodes.Const, nodes.Concat, nodes.Add, nodes.Mul, nodes.Mod, nodes.Filter, nodes.Getitem, nodes.Call)
        ):
            value = _fold(n)
            if isinstance(value, list):
                for v in value:
                    self.string_value(v, n)
            else:
                self.string_value(value, n)
        self.dos(n)


def _short(s: str, n: int = 80) -> str:
    return s if len(s) <= n else s[: n - 3] + "..."


def check_jinja_template(source: str, ctx: ScanContext, where: str) -> None:
    """Parse ``source`` as a Jinja2 template (never rendered) and report constructs that reach
    Python internals, load other templates, or exhaust resources. ``where`` names the template in
    messages (``tokenizer.chat_template``, ``tokenizer_config.json:chat_template[tool_use]``)."""
    if not isinstance(source, str):
        ctx.issue(R_SYNTAX, f"{where}: chat template is a {type(source).__name__}, not a string", details={"template": where})
        return
    lim = ctx.config.limits
    if len(source) > lim.max_template_chars:
        ctx.limit(f"{where}: chat template of {len(source)} characters is over the {lim.max_template_chars} limit")
        return
    try:
        tree = _env().parse(source)
    except TemplateError as e:
        lineno = getattr(e, "lineno", None)
        ctx.issue(R_SYNTAX, f"{where}: does not parse: {e}", line=lineno, details={"template": where})
        return
    except (RecursionError, MemoryError):
        ctx.issue(R_SYNTAX, f"{where}: nested too deeply to parse", details={"template": where})
        return
    checker = _Checker(ctx, where)
    for i, n in enumerate(_walk(tree)):
        if i % 2048 == 0:
            ctx.check_time()
        checker.visit(n)
    cost, why, node = render_cost(tree, float(lim.max_template_render_cost))
    if why and not any(rid == R_DOS.id for rid, _ in checker.seen):  # one DoS finding is enough
        checker.report(
            R_DOS, "render-cost", f"rendering can exhaust CPU or memory: {why} (budget {lim.max_template_render_cost})",
            node, estimate=cost,
        )
    if checker.suppressed:
        ctx.details.setdefault("template_findings_suppressed", {})[where] = checker.suppressed
    in_member = bool(ctx.members) and ctx.members[-1] == where
    ctx.covered("chat-template", "" if in_member else where)


# ---------------------------------------------------------------------------------------------
# Render cost: an upper bound of the work a render does, from the AST (never rendered)
# ---------------------------------------------------------------------------------------------

_INF = 1e300


def _mul(*xs: float) -> float:
    out = 1.0
    for x in xs:
        out = min(_INF, out * max(x, 0.0))
    return out


class _Cost:
    """Estimates, without rendering, how many characters/iterations a render produces, compounding
    loops, repetition, variables set from earlier expressions and strings that feed themselves in a
    loop (``{% set ns.s = ns.s ~ ns.s %}`` doubles per iteration). Inputs (``messages``...) count as
    one unit: only what the template itself amplifies is measured."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.vars: dict[str, float] = {}
        self.total = 0.0
        self.why = ""
        self.node: nodes.Node | None = None

    def _flag(self, amount: float, why: str, node: nodes.Node) -> None:
        if amount > self.limit and not self.why:
            self.why, self.node = why, node

    def _key(self, n: nodes.Node) -> str | None:
        if isinstance(n, nodes.Name):
            return str(n.name)
        if isinstance(n, nodes.NSRef):
            return f"{n.name}.{n.attr}"
        if isinstance(n, nodes.Getattr) and isinstance(n.node, nodes.Name):
            return f"{n.node.name}.{n.attr}"
        return None

    def mag(self, n: nodes.Node | None) -> float:
        v = _int_const(n)
        if v is not None:
            return float(abs(v))
        return self.size(n)

    def size(self, n: nodes.Node | None, depth: int = 0) -> float:
        if n is None or depth > 100:
            return 1.0
        d = depth + 1
        if isinstance(n, nodes.Const):
            return float(len(n.value)) if isinstance(n.value, str) else 1.0
        if isinstance(n, (nodes.List, nodes.Tuple)):
            return max(1.0, sum(self.size(i, d) for i in n.items))
        if isinstance(n, nodes.Dict):
            return max(1.0, sum(self.size(i.value, d) + self.size(i.key, d) for i in n.items))
        key = self._key(n)
        if key is not None and key in self.vars:
            return self.vars[key]
        if isinstance(n, nodes.Mul):
            return _mul(self.mag(n.left) if depth < 100 else 1.0, self.mag(n.right))
        if isinstance(n, (nodes.Add, nodes.Sub, nodes.Concat)):
            parts = n.nodes if isinstance(n, nodes.Concat) else [n.left, n.right]
            return min(_INF, sum(self.size(p, d) for p in parts))
        if isinstance(n, nodes.CondExpr):
            return max(self.size(n.expr1, d), self.size(n.expr2, d))
        if isinstance(n, nodes.Call) and isinstance(n.node, nodes.Name) and n.node.name == "range":
            return max([1.0] + [self.mag(a) for a in n.args])
        if isinstance(n, nodes.Filter):
            base = self.size(n.node, d)
            extra = sum(self.mag(a) if n.name in ("center", "indent", "truncate", "wordwrap") else self.size(a, d)
                        for a in n.args)
            if n.name in ("batch", "slice") and n.args:
                return base
            return min(_INF, base + extra)
        if isinstance(n, nodes.Call):
            return min(_INF, 1.0 + sum(self.size(a, d) for a in n.args) + sum(self.size(k.value, d) for k in n.kwargs))
        return 1.0

    def _refs(self, expr: nodes.Node, key: str) -> int:
        count = 0
        for x in _walk(expr):
            if self._key(x) == key and not isinstance(x, nodes.NSRef):
                count += 1
        return count

    def body(self, stmts: list[nodes.Node], mult: float, loops: float) -> None:
        for s in stmts:
            self.stmt(s, mult, loops)

    def stmt(self, n: nodes.Node, mult: float, loops: float) -> None:
        if isinstance(n, nodes.For):
            iters = self.size(n.iter)
            inner = _mul(mult, iters)
            self.total = min(_INF, self.total + inner)
            self._flag(self.total, f"loops run about {inner:.3g} iterations", n)
            self.body(n.body, inner, _mul(loops, iters))
            self.body(n.else_, mult, loops)
        elif isinstance(n, nodes.Output):
            for e in n.nodes:
                self.total = min(_INF, self.total + _mul(mult, self.size(e)))
            self._flag(self.total, f"the render produces about {self.total:.3g} characters", n)
        elif isinstance(n, nodes.Assign):
            key = self._key(n.target)
            s = self.size(n.node)
            if key is not None:
                refs = self._refs(n.node, key) if loops > 1 else 0
                if refs >= 2:
                    # the value doubles (or more) per iteration: refs ** loops
                    import math

                    exp = loops * math.log(refs)
                    s = _INF if exp > 690 else _mul(s, math.exp(exp))
                elif refs == 1:
                    s = _mul(s, loops)
                self.vars[key] = max(self.vars.get(key, 0.0), s)
            self.total = min(_INF, self.total + _mul(mult, s))
            self._flag(max(self.total, s), f"a variable grows to about {s:.3g} characters", n)
        elif isinstance(n, nodes.AssignBlock):
            self.body(n.body, mult, loops)
        elif isinstance(n, nodes.If):
            self.body(n.body, mult, loops)
            for branch in n.elif_:
                self.stmt(branch, mult, loops)
            self.body(n.else_, mult, loops)
        elif isinstance(n, nodes.Macro):
            calls = [c for c in _walk(n) if isinstance(c, nodes.Call) and isinstance(c.node, nodes.Name)
                     and c.node.name == n.name]
            if len(calls) >= 2:
                self._flag(_INF, f"macro {n.name!r} calls itself {len(calls)} times (exponential recursion)", n)
            self.body(n.body, mult, loops)
        elif isinstance(n, (nodes.CallBlock, nodes.FilterBlock, nodes.With, nodes.Scope, nodes.ScopedEvalContextModifier)):
            self.body(getattr(n, "body", []), mult, loops)


def render_cost(tree: nodes.Template, limit: float) -> tuple[float, str, nodes.Node | None]:
    """(estimated work, why it is over ``limit`` or "", the node)."""
    c = _Cost(limit)
    c.body(tree.body, 1.0, 1.0)
    return c.total, c.why, c.node
