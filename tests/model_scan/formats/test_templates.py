"""Chat-template analysis: real templates pass, the CVE-2024-34359 class and its obfuscations are
critical, and nothing is ever compiled or rendered."""

from __future__ import annotations

from typing import Any

import jinja2
import pytest

from mlgate.gates.model_scan.formats.templates import check_jinja_template
from mlgate.model import Severity

from . import _templates as T
from ._util import formats, ids


@pytest.mark.parametrize("name", sorted(T.BENIGN))
def test_real_chat_templates_pass(name: str, ctx: Any) -> None:
    check_jinja_template(T.BENIGN[name], ctx, name)
    assert ctx.findings == [], [f.message for f in ctx.findings]
    assert formats(ctx) == ["chat-template"]
    assert ctx.coverage[0].detail == name


CRITICAL = {
    "subclasses-chain": T.SSTI_SUBCLASSES,
    "namespace-init-globals": T.SSTI_NAMESPACE,
    "attr-filter-concat": T.SSTI_ATTR_CONCAT,
    "cve-2024-34359-poc": T.CVE_2024_34359,
    "payload-appended-to-benign": T.PAYLOAD_IN_BENIGN,
    "template-reference-context": T.PYTHON_CALL_KEY,
    "private-attr-on-self": T.PYTHON_CALL_PRIVATE_ONLY,
    "item-access-dunder": "{{ messages['__class__'] }}",
    "item-access-built-name": "{{ x[('_' * 2) ~ 'globals' ~ ('_' * 2)] }}",
    "string-format-char-codes": "{{ x|attr('%c%cclass%c%c'|format(95, 95, 95, 95)) }}",
    "str-format-method": "{{ x|attr('{}{}class{}{}'.format('_', '_', '_', '_')) }}",
    "join-list": "{{ x|attr(['_', '_', 'class', '_', '_']|join) }}",
    "replace-filter": "{{ x|attr('XXclassXX'|replace('X', '_')) }}",
    "reverse-filter": "{{ x|attr('__ssalc__'|reverse) }}",
    "slice": "{{ x|attr('a__class__'[1:]) }}",
    "variable-indirection": "{% set k = '__glo' ~ 'bals__' %}{{ lipsum[k] }}",
    "map-attribute": "{{ messages|map(attribute='__class__')|list }}",
    "map-attr-filter": "{{ messages|map('attr', '__class__')|list }}",
    "selectattr-dotted": "{{ messages|selectattr('content.__class__')|list }}",
    "dict-keyword": "{{ dict(__class__=1)|list }}",
    "dunder-name": "{{ __builtins__ }}",
    "frame-attribute": "{{ gen.gi_frame.f_globals }}",
    "namespace-assignment": "{% set ns = namespace() %}{% set ns.__class__ = 1 %}",
    "format-string-attribute": "{{ '{0.__class__}'.format(messages) }}",
    "do-statement": "{% do x.__class__ %}",
    "in-macro": "{% macro m() %}{{ caller.__globals__ }}{% endmacro %}",
    "in-generation-block": "{% generation %}{{ x.__class__ }}{% endgeneration %}",
}


@pytest.mark.parametrize("name", sorted(CRITICAL))
def test_reaching_python_internals_is_critical(name: str, ctx: Any) -> None:
    check_jinja_template(CRITICAL[name], ctx, "tpl")
    assert "MLG-TPL-PYTHON-INTERNALS" in ids(ctx), [f.message for f in ctx.findings]
    assert any(f.severity is Severity.CRITICAL for f in ctx.findings)
    assert all(f.location.line is not None for f in ctx.findings)


@pytest.mark.parametrize(
    ("source", "rule_id", "severity"),
    [
        ("{{ message._private }}", "MLG-TPL-PRIVATE-ATTR", Severity.HIGH),
        ("{{ '{0._x}'.format(m) }}", "MLG-TPL-PRIVATE-ATTR", Severity.HIGH),
        ("{{ x|attr(name) }}", "MLG-TPL-DYNAMIC-ATTR", Severity.HIGH),
        ("{{ xs|map(attribute=key)|list }}", "MLG-TPL-DYNAMIC-ATTR", Severity.HIGH),
        ("{{ xs|map(f)|list }}", "MLG-TPL-DYNAMIC-ATTR", Severity.HIGH),
        ("{{ xs|selectattr(k)|list }}", "MLG-TPL-DYNAMIC-ATTR", Severity.HIGH),
        ("{% include 'other.j2' %}", "MLG-TPL-INCLUDE", Severity.HIGH),
        ("{% import 'macros.j2' as m %}", "MLG-TPL-INCLUDE", Severity.HIGH),
        ("{% extends 'base.j2' %}", "MLG-TPL-INCLUDE", Severity.HIGH),
        ("{% for i in range(10000000000) %}x{% endfor %}", "MLG-TPL-DOS", Severity.MEDIUM),
        ("{{ 'x' * 1000000000 }}", "MLG-TPL-DOS", Severity.MEDIUM),
        ("{{ 9 ** 99999999 }}", "MLG-TPL-DOS", Severity.MEDIUM),
        ("{{ '%999999999s'|format('x') }}", "MLG-TPL-DOS", Severity.MEDIUM),
    ],
)
def test_other_findings(source: str, rule_id: str, severity: Severity, ctx: Any) -> None:
    check_jinja_template(source, ctx, "tpl")
    assert ids(ctx) == [rule_id], [f.message for f in ctx.findings]
    assert ctx.findings[0].severity is severity


def test_namespace_without_underscores_is_benign(ctx: Any) -> None:
    check_jinja_template("{% set ns = namespace(a=1) %}{% set ns.a = ns.a + 1 %}{{ ns.a }}", ctx, "t")
    assert ctx.findings == []


def test_small_range_and_normal_attr_filter_are_benign(ctx: Any) -> None:
    check_jinja_template("{% for i in range(100) %}{{ m|attr('content') }}{% endfor %}", ctx, "t")
    assert ctx.findings == []


@pytest.mark.parametrize("source", ["{{ ", "{% for x in y %}", "{% if %}", "{{ x | }}", "{% endfor %}"])
def test_unparseable_template_is_high_and_not_covered(source: str, ctx: Any) -> None:
    check_jinja_template(source, ctx, "tpl")
    assert ids(ctx) == ["MLG-TPL-SYNTAX"]
    assert ctx.findings[0].severity is Severity.HIGH
    assert formats(ctx) == []


def test_deeply_nested_template_is_reported_not_crashing(ctx: Any) -> None:
    check_jinja_template("{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}", ctx, "tpl")
    assert ids(ctx) == ["MLG-TPL-SYNTAX"]


def test_non_string_template(ctx: Any) -> None:
    check_jinja_template(["{{ x }}"], ctx, "tpl")  # type: ignore[arg-type]
    assert ids(ctx) == ["MLG-TPL-SYNTAX"]


def test_findings_are_deduplicated_and_capped(ctx: Any) -> None:
    check_jinja_template("".join(f"{{{{ x.__a{i}__ }}}}{{{{ x.__class__ }}}}" for i in range(60)), ctx, "tpl")
    assert len(ctx.findings) == 25
    assert ctx.details["template_findings_suppressed"]["tpl"] == 36


def test_folding_never_builds_huge_strings(ctx: Any) -> None:
    # '%0999999999d' would make *us* allocate a gigabyte if we folded it; we refuse to fold it.
    check_jinja_template("{{ x|attr('%0999999999d'|format(1)) }}", ctx, "tpl")
    assert "MLG-TPL-DYNAMIC-ATTR" in ids(ctx)


def test_never_compiles_or_renders(ctx: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a: Any, **k: Any) -> Any:
        raise AssertionError("template compiled or rendered")

    monkeypatch.setattr(jinja2.Environment, "compile", boom)
    monkeypatch.setattr(jinja2.Environment, "from_string", boom)
    monkeypatch.setattr(jinja2.Template, "render", boom)
    check_jinja_template(T.CVE_2024_34359, ctx, "tpl")
    check_jinja_template(T.LLAMA3, ctx, "tpl2")
    assert "MLG-TPL-PYTHON-INTERNALS" in ids(ctx)
