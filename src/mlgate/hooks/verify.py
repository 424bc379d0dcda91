"""Authenticating MLflow webhook deliveries.

MLflow 3.x signs each delivery with the webhook's secret:
``X-MLflow-Signature: v1,<base64 HMAC-SHA256(secret, "{delivery_id}.{timestamp}.{body}")>``, with
``X-MLflow-Delivery-Id`` (a uuid, the same on every retry of one delivery) and
``X-MLflow-Timestamp`` (unix seconds). A request is accepted only if one of the configured
secrets gives the same MAC (compared in constant time) and the timestamp is within the replay
window; the delivery id is then deduplicated by the durable queue.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlgate.errors import UsageError

SIGNATURE_HEADER = "x-mlflow-signature"
DELIVERY_ID_HEADER = "x-mlflow-delivery-id"
TIMESTAMP_HEADER = "x-mlflow-timestamp"
SIGNATURE_VERSION = "v1"

ENV_SECRET = "MLGATE_WEBHOOK_SECRET"  # noqa: S105 - the name of the variable, not a secret
ENV_SECRET_FILE = "MLGATE_WEBHOOK_SECRET_FILE"  # noqa: S105

DEFAULT_TOLERANCE_S = 300
DEFAULT_MAX_BODY = 1024 * 1024
_DELIVERY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


class Rejected(Exception):
    """A delivery that must not be recorded; ``status`` is the HTTP answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def sign(secret: str | bytes, delivery_id: str, timestamp: str, body: bytes) -> str:
    """The header value MLflow would send (used by tests, the bench and ``hooks`` clients)."""
    key = secret.encode() if isinstance(secret, str) else secret
    mac = hmac.new(key, f"{delivery_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(mac).decode()}"


def _candidates(header: str) -> list[bytes]:
    """Signatures in the header: ``v1,<b64>``, several separated by spaces (key rotation)."""
    out = []
    for part in header.split():
        version, _, value = part.partition(",")
        if version != SIGNATURE_VERSION or not value:
            continue
        try:
            out.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    return out


def verify_request(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[bytes],
    *,
    now: float,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> tuple[str, int]:
    """Return ``(delivery_id, timestamp)`` of an authentic, fresh delivery; raise Rejected.

    401: missing or wrong signature (checked first: an unauthenticated caller learns nothing
    else); 400: malformed id or timestamp, or a timestamp outside the window.
    """
    signature = headers.get(SIGNATURE_HEADER)
    delivery_id = headers.get(DELIVERY_ID_HEADER)
    timestamp = headers.get(TIMESTAMP_HEADER)
    if not signature or not delivery_id or not timestamp:
        raise Rejected(401, "missing signature, delivery id or timestamp header")
    if not secrets:
        raise Rejected(401, "no webhook secret configured")
    given = _candidates(signature)
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    ok = False
    for secret in secrets:
        expected = hmac.new(secret, signed, hashlib.sha256).digest()
        for g in given:
            ok |= hmac.compare_digest(expected, g)  # no early exit: same work for every candidate
    if not ok:
        raise Rejected(401, "signature does not verify")
    if not _DELIVERY_ID.match(delivery_id):
        raise Rejected(400, "malformed delivery id")
    if not _TIMESTAMP.match(timestamp):
        raise Rejected(400, "malformed timestamp")
    ts = int(timestamp)
    if abs(now - ts) > tolerance_s:
        raise Rejected(400, f"timestamp outside the {tolerance_s} s replay window")
    return delivery_id, ts


def load_secrets(secret_file: str | os.PathLike[str] | None = None,
                 env: Mapping[str, str] | None = None) -> list[bytes]:
    """The shared secret(s): ``MLGATE_WEBHOOK_SECRET``, or a file (``secret_file``, else
    ``MLGATE_WEBHOOK_SECRET_FILE``) with one secret per line (several during a rotation).
    Never from the command line (it would show in ``ps`` and shell history)."""
    e = os.environ if env is None else env
    values: list[str] = []
    path = secret_file or e.get(ENV_SECRET_FILE)
    if path:
        p = Path(path)
        try:
            mode = p.stat().st_mode
            text = p.read_text()
        except OSError as err:
            raise UsageError(f"cannot read the webhook secret file {p}: {err.strerror}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise UsageError(f"{p}: the webhook secret file must not be readable by group or others (chmod 600)")
        values += [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    elif e.get(ENV_SECRET):
        values += [s.strip() for s in e[ENV_SECRET].split(",") if s.strip()]
    if not values:
        raise UsageError(f"no webhook secret: set {ENV_SECRET} or {ENV_SECRET_FILE}, or pass --secret-file")
    short = [v for v in values if len(v) < 16]
    if short:
        raise UsageError("a webhook secret must be at least 16 characters")
    return [v.encode() for v in values]
