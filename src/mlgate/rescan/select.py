"""Walking the registry: the model versions a rescan checks, versions holding an alias first.

One ``search_registered_models`` walk (names and aliases) plus one ``search_model_versions`` per
selected model (tags included), so the registry calls grow with the number of models, not the
number of versions.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PAGE = 1000


class VersionRef(BaseModel):
    """One model version as the registry listed it (plain data: it travels to task workers)."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    source: str
    run_id: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    created_ms: int = 0

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"


def _pages(fetch: Any) -> Iterator[Any]:
    token: str | None = None
    while True:
        page = fetch(token)
        yield from page
        token = getattr(page, "token", None)
        if not token:
            return


def _quote(name: str) -> str:
    if "'" not in name:
        return f"name='{name}'"
    if '"' not in name:
        return f'name="{name}"'
    raise ValueError(f"registered model name {name!r} contains both quote characters")


def model_selected(name: str, patterns: Iterable[str], exclude: Iterable[str], names: Iterable[str] = ()) -> bool:
    names = tuple(names)
    if names and name not in names:
        return False
    if not any(fnmatch.fnmatchcase(name, p) for p in patterns):
        return False
    return not any(fnmatch.fnmatchcase(name, p) for p in exclude)


def order_versions(refs: Iterable[VersionRef]) -> list[VersionRef]:
    """Versions holding an alias first (they serve), then newest first within each model."""
    return sorted(refs, key=lambda r: (not r.aliases, r.name, -_num(r.version)))


def _num(v: str) -> int:
    try:
        return int(v)
    except ValueError:
        return 0


def select_versions(
    client: Any,
    *,
    patterns: Iterable[str] = ("*",),
    exclude: Iterable[str] = (),
    names: Iterable[str] = (),
    max_workers: int = 1,
) -> list[VersionRef]:
    """The selected models' versions, aliased first. ``max_workers``: models read concurrently."""
    patterns, exclude, names = tuple(patterns), tuple(exclude), tuple(names)
    models = [
        m for m in _pages(lambda t: client.search_registered_models(max_results=PAGE, page_token=t))
        if model_selected(m.name, patterns, exclude, names)
    ]
    def versions_of(m: Any) -> list[VersionRef]:
        aliases: dict[str, list[str]] = {}
        for alias, version in (m.aliases or {}).items():
            aliases.setdefault(str(version), []).append(str(alias))
        flt = _quote(m.name)
        return [
            VersionRef(
                name=mv.name,
                version=str(mv.version),
                source=str(mv.source),
                run_id=mv.run_id or None,
                tags=dict(mv.tags or {}),
                aliases=tuple(sorted(aliases.get(str(mv.version), []))),
                created_ms=int(mv.creation_timestamp or 0),
            )
            for mv in _pages(lambda t: client.search_model_versions(flt, max_results=PAGE, page_token=t))
            if mv.name == m.name
        ]

    if max_workers > 1 and len(models) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(max_workers, len(models)), thread_name_prefix="mlgate-select") as pool:
            per_model = list(pool.map(versions_of, models))
    else:
        per_model = [versions_of(m) for m in models]
    return order_versions(r for refs in per_model for r in refs)
