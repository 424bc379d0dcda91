"""One bounded YAML loader for every YAML document the scanner reads (``MLmodel``, ``conda.yaml``,
``python_env.yaml``, Hydra/OmegaConf/NeMo/Lightning configs).

PyYAML's ``safe_load`` constructs no Python objects beyond plain data, but it expands nothing
either: an alias is the *same* node again, so a 499-byte "billion laughs" document composes in
microseconds and then explodes in whatever walks it (``str()``, ``json.dumps``, a recursive
checker: 1.8 GB RSS measured on ``MLmodel``). This loader refuses the document while composing:

* at most ``max_aliases`` alias events (``*name``) per document (default 100; real MLflow and
  conda files use none, Hydra configs a handful);
* at most ``max_expanded_nodes`` nodes once every alias is counted with the size of what it
  points at (default 1,000,000) -- so a few aliases of a big anchor cannot rebuild the bomb;
* nesting at most ``max_depth`` levels (default 200; deeper documents overflow recursive walkers);
* at most ``max_bytes`` of text (the caller's ``limits.max_json_bytes``);
* the caller's deadline, checked every 4,096 nodes.

A ``!!python/...`` tag (what ``yaml.unsafe_load`` / ``FullLoader`` would turn into a call) is not
constructed: it is raised as :class:`YamlCodeTag` so the caller can report it as code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, SequenceNode

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


class _BoundedLoader(yaml.SafeLoader):
    """Pure-Python SafeLoader (the C composer cannot be hooked) that counts while composing."""

    bounds: YamlBounds
    check: Callable[[], None] | None

    def __init__(self, stream: str, bounds: YamlBounds, check: Callable[[], None] | None) -> None:
        super().__init__(stream)
        self.bounds = bounds
        self.check = check
        self._aliases = 0
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:  # type: ignore[override]
        if self.check_event(AliasEvent):
            self._aliases += 1
            if self._aliases > self.bounds.max_aliases:
                ev = self.peek_event()  # type: ignore[no-untyped-call]
                raise YamlRefused(
                    f"more than {self.bounds.max_aliases} aliases (line {ev.start_mark.line + 1}): "
                    "alias expansion bomb refused"
                )
        self._depth += 1
        if self._depth > self.bounds.max_depth:
            raise YamlRefused(f"nesting deeper than {self.bounds.max_depth} levels")
        self._nodes += 1
        if self.check is not None and not self._nodes & 4095:
            self.check()
        try:
            node: Node | None = super().compose_node(parent, index)  # type: ignore[misc]
        finally:
            self._depth -= 1
        if node is not None and node.tag.startswith(PYTHON_TAG):
            raise YamlCodeTag(node.tag, node.start_mark.line + 1)
        return node


def _expanded_size(root: Node, limit: int) -> int:
    """Nodes in the document with every alias expanded, memoised per node (iterative, bounded)."""
    sizes: dict[int, int] = {}
    stack: list[tuple[Node, bool]] = [(root, False)]
    on_path: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        if key in sizes and not done:
            continue
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            for k, v in node.value:
                children.extend((k, v))
        if not done:
            if key in on_path:  # recursive alias: infinite when expanded
                raise YamlRefused("recursive alias (a node contains itself)")
            on_path.add(key)
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
            continue
        on_path.discard(key)
        total = 1 + sum(sizes.get(id(c), 1) for c in children)
        if total > limit:
            raise YamlRefused(f"more than {limit} nodes once aliases are expanded: alias expansion bomb refused")
        sizes[key] = total
    return sizes.get(id(root), 1)


def load_yaml(text: str, bounds: YamlBounds | None = None, check: Callable[[], None] | None = None) -> Any:
    """Parse one YAML document under the bounds. Raises :class:`YamlRefused`, :class:`YamlCodeTag`
    or :class:`yaml.YAMLError`. Multi-document streams are refused like ``safe_load`` refuses them."""
    b = bounds or YamlBounds()
    if len(text) > b.max_bytes:
        raise YamlRefused(f"{len(text)} characters is over the {b.max_bytes}-byte limit")
    loader = _BoundedLoader(text, b, check)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, b.max_expanded_nodes)
        return loader.construct_document(node)
    except RecursionError as e:
        raise YamlRefused("nesting too deep for the parser") from e
    finally:
        loader.dispose()
