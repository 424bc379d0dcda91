"""Matching registry locations against the policy's allowed stores (pure)."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Sequence

_TRIPLE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):///")


def normalise(uri: str) -> str:
    """``scheme:///abs`` -> ``scheme:/abs`` (MLflow stores both spellings); the scheme lower-cased."""
    uri = uri.strip()
    m = _TRIPLE.match(uri)
    if m:
        uri = f"{m.group(1)}:/{uri[m.end():]}"
    scheme, sep, rest = uri.partition(":")
    return f"{scheme.lower()}{sep}{rest}" if sep else uri


def traversal(uri: str) -> bool:
    """A ``..`` path segment, literally, percent-encoded (once or twice) or with backslashes."""
    text = uri
    for _ in range(3):
        text = urllib.parse.unquote(text)
    parts = re.split(r"[/\\]", urllib.parse.urlsplit(text).path if "://" in text else text)
    return any(p == ".." for p in parts)


def allowed(uri: str, prefixes: Sequence[str]) -> str | None:
    """The allowed prefix ``uri`` lies under, or None."""
    loc = normalise(uri)
    for p in prefixes:
        pre = normalise(p)
        if loc == pre.rstrip("/"):
            return p
        if pre.endswith(("/", ":")):
            if loc.startswith(pre):
                return p
        elif loc.startswith(pre + "/"):
            return p
    return None
