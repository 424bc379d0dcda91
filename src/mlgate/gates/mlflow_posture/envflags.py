"""Reading the server's environment the way MLflow does (strict booleans, MLflow's defaults)."""

from __future__ import annotations

from typing import Literal

Flag = Literal["true", "false", "invalid"]


def flag(env: dict[str, str], name: str, default: bool) -> tuple[Flag, str]:
    """MLflow's ``_BooleanEnvironmentVariable``: true/1 or false/0 (any case); unset -> its default."""
    raw = env.get(name)
    if raw is None or raw == "":
        return ("true" if default else "false"), f"{name} unset (MLflow's default: {str(default).lower()})"
    low = raw.strip().lower()
    if low in ("true", "1"):
        return "true", f"{name}={raw}"
    if low in ("false", "0"):
        return "false", f"{name}={raw}"
    return "invalid", f"{name}={raw!r} is not a boolean MLflow accepts (the server refuses to read it)"
