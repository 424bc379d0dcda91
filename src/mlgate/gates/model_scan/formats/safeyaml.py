"""One bounded YAML loader for every YAML document the scanner reads (``MLmodel``, ``conda.yaml``,
``python_env.yaml``, Hydra/OmegaConf/NeMo/Lightning configs).

PyYAML's ``safe_load`` constructs no Python objects beyond plain data, but it expands nothing
either: an alias is the *same* node again, so a 499-byte "billion laughs" document composes in
microseconds and then explodes in whatever walks it (``str()``, ``json.dumps``, a recursive
checker: 1.8 GB RSS measured on ``MLmodel``). This loader first walks the parser's event stream
(libyaml's C parser when available) and refuses the document before anything is composed:

* at most ``max_aliases`` alias events (``*name``) per document (default 100; real MLflow and
  conda files use none, Hydra configs a handful);
* at most ``max_expanded_nodes`` nodes once every alias is counted with the size of what it
  points at (default 1,000,000) -- so a few aliases of a big anchor cannot rebuild the bomb;
* nesting at most ``max_depth`` levels (default 200; deeper documents overflow recursive walkers);
* at most ``max_bytes`` of text (the caller's ``limits.max_json_bytes``);
* the caller's deadline, checked every 4,096 events.

Only then is the document constructed, with ``CSafeLoader`` (or ``SafeLoader``).

A ``!!python/...`` tag (what ``yaml.unsafe_load`` / ``FullLoader`` would turn into a call) is not
constructed: it is raised as :class:`YamlCodeTag` so the caller can report it as code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

MAX_ALIASES = 100
MAX_EXPANDED_NODES = 1_000_000
MAX_DEPTH = 200
PYTHON_TAG = "tag:yaml.org,2002:python/"


class YamlRefused(Exception):
    """The document exceeds a bound; ``reason`` says which. The content was not parsed."""


class YamlCodeTag(Exception):
    """The document carries a ``!!python/...`` tag (a call under unsafe loaders)."""

    def __init__(self, tag: str, line: int | None) -> None:
        super().__init__(f"{tag} (line {line})")
        self.tag = tag
        self.line = line


@dataclass(frozen=True)
class YamlBounds:
    max_bytes: int = 64 * 1024 * 1024
    max_aliases: int = MAX_ALIASES
    max_expanded_nodes: int = MAX_EXPANDED_NODES
    max_depth: int = MAX_DEPTH


_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Parser: Any = _Loader  # parse() only: the same (C) parser, events, no construction


def _prepass(text: str, b: YamlBounds, check: Callable[[], None] | None) -> None:
    """Walk the event stream (libyaml's C parser when present) counting aliases, depth and the
    alias-expanded node count, and refusing python tags, before anything is composed."""
    anchors: dict[str, int] = {}
    open_anchors: set[str] = set()
    stack: list[tuple[int, str | None]] = []  # (size so far, anchor) per open collection
    aliases = 0
    events = 0
    total = 0
    for ev in yaml.parse(text, Loader=_Parser):
        events += 1
        if check is not None and not events & 4095:
            check()
        tag = getattr(ev, "tag", None)
        if isinstance(tag, str) and tag.startswith(PYTHON_TAG):
            raise YamlCodeTag(tag, ev.start_mark.line + 1 if ev.start_mark else None)
        size = 0
        if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            if len(stack) >= b.max_depth:
                raise YamlRefused(f"nesting deeper than {b.max_depth} levels")
            if ev.anchor:
                open_anchors.add(ev.anchor)
            stack.append((1, ev.anchor))
            continue
        if isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            size, anchor = stack.pop()
            if anchor:
                anchors[anchor] = size
                open_anchors.discard(anchor)
        elif isinstance(ev, yaml.ScalarEvent):
            size = 1
            if ev.anchor:
                anchors[ev.anchor] = 1
        elif isinstance(ev, yaml.AliasEvent):
            aliases += 1
            if aliases > b.max_aliases:
                line = ev.start_mark.line + 1 if ev.start_mark else "?"
                raise YamlRefused(f"more than {b.max_aliases} aliases (line {line}): alias expansion bomb refused")
            if ev.anchor in open_anchors:
                raise YamlRefused("recursive alias (a node contains itself)")
            size = anchors.get(ev.anchor or "", 1)
        else:
            continue
        if stack:
            top, anchor = stack[-1]
            stack[-1] = (top + size, anchor)
            if top + size > b.max_expanded_nodes:
                raise YamlRefused(
                    f"more than {b.max_expanded_nodes} nodes once aliases are expanded: alias expansion bomb refused"
                )
        total += size
        if total > b.max_expanded_nodes:
            raise YamlRefused(
                f"more than {b.max_expanded_nodes} nodes once aliases are expanded: alias expansion bomb refused"
            )


def load_yaml(text: str, bounds: YamlBounds | None = None, check: Callable[[], None] | None = None) -> Any:
    """Parse one YAML document under the bounds. Raises :class:`YamlRefused`, :class:`YamlCodeTag`
    or :class:`yaml.YAMLError`. Multi-document streams are refused like ``safe_load`` refuses them."""
    b = bounds or YamlBounds()
    if len(text) > b.max_bytes:
        raise YamlRefused(f"{len(text)} characters is over the {b.max_bytes}-byte limit")
    try:
        _prepass(text, b, check)
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - CSafeLoader/SafeLoader, bounded by the pre-pass
    except RecursionError as e:
        raise YamlRefused("nesting too deep for the parser") from e
