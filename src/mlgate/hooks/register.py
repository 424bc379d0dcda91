"""Creating the MLflow webhook that feeds the receiver.

A fresh secret is generated (``secrets.token_urlsafe``), handed to MLflow with the webhook and
written to a file readable only by its owner (mode 0600, created exclusively). The secret is
never printed or logged; the receiver reads the same file (``--secret-file``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.errors import UsageError

DEFAULT_EVENTS = (
    "model_version.created",
    "model_version_tag.set",
    "model_version_tag.deleted",
    "model_version_alias.created",
)
DEFAULT_NAME = "mlgate-registry-hooks"


@dataclass(frozen=True)
class Registered:
    webhook_id: str
    name: str
    url: str
    events: list[str]
    secret_file: Path


def write_secret(path: Path, secret: str, *, overwrite: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise UsageError(f"{path} already exists (use --force to replace it)") from None
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(secret + "\n")


def register_webhook(
    client: Any,
    url: str,
    secret_file: Path,
    *,
    events: Sequence[str] = DEFAULT_EVENTS,
    name: str = DEFAULT_NAME,
    description: str | None = None,
    overwrite: bool = False,
) -> Registered:
    if not url.startswith(("https://", "http://")):
        raise UsageError(f"{url!r}: the receiver URL must be http(s)")
    if secret_file.exists() and not overwrite:
        raise UsageError(f"{secret_file} already exists (use --force to replace it)")
    secret = secrets.token_urlsafe(32)
    hook = client.create_webhook(
        name=name,
        url=url,
        events=list(events),
        description=description or "mlgate: scan, sign or quarantine model versions registered outside the pipeline",
        secret=secret,
    )
    write_secret(secret_file, secret, overwrite=overwrite)
    return Registered(str(hook.webhook_id), name, url, [str(e) for e in hook.events], secret_file)
