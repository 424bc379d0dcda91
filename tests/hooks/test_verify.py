"""Webhook authentication: MLflow's own signer is the oracle; forged, stale and malformed
deliveries are refused with the right status; secrets never come from a readable file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.hooks.hooks_helpers import SECRET, body_of, payload, signed_headers

from mlgate.errors import UsageError
from mlgate.hooks.verify import Rejected, load_secrets, sign, verify_request

NOW = 1_800_000_000


def _lower(h: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in h.items()}


def test_matches_mlflows_own_signature() -> None:
    from mlflow.webhooks.delivery import _generate_hmac_signature

    body = body_of(payload())
    theirs = _generate_hmac_signature(SECRET, "d-1", str(NOW), body.decode())
    assert sign(SECRET, "d-1", str(NOW), body) == theirs
    h = {"x-mlflow-signature": theirs, "x-mlflow-delivery-id": "d-1", "x-mlflow-timestamp": str(NOW)}
    assert verify_request(h, body, [SECRET.encode()], now=NOW) == ("d-1", NOW)


@pytest.mark.parametrize(
    ("mutate", "status", "reason"),
    [
        (lambda h, b: ({**h, "x-mlflow-signature": sign("another-secret-0123456789", h["x-mlflow-delivery-id"],
                                                          h["x-mlflow-timestamp"], b)}, b), 401, "does not verify"),
        (lambda h, b: (h, b + b" "), 401, "does not verify"),  # body changed after signing
        (lambda h, b: ({**h, "x-mlflow-delivery-id": "other"}, b), 401, "does not verify"),  # id swapped
        (lambda h, b: ({**h, "x-mlflow-timestamp": str(NOW + 1)}, b), 401, "does not verify"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "x-mlflow-signature"}, b), 401, "missing"),
        (lambda h, b: ({**h, "x-mlflow-signature": "v1,not-base64!!"}, b), 401, "does not verify"),
        (lambda h, b: ({**h, "x-mlflow-signature": "v0," + h["x-mlflow-signature"][3:]}, b), 401, "does not verify"),
    ],
)
def test_forged_requests_are_401(mutate, status: int, reason: str) -> None:  # type: ignore[no-untyped-def]
    body = body_of(payload())
    h = _lower(signed_headers(body, timestamp=NOW))
    h2, b2 = mutate(h, body)
    with pytest.raises(Rejected, match=reason) as e:
        verify_request(h2, b2, [SECRET.encode()], now=NOW)
    assert e.value.status == status


@pytest.mark.parametrize("skew", [-301, 301, -10_000])
def test_stale_or_future_timestamps_are_400(skew: int) -> None:
    body = body_of(payload())
    h = _lower(signed_headers(body, timestamp=NOW + skew))
    with pytest.raises(Rejected, match="replay window") as e:
        verify_request(h, body, [SECRET.encode()], now=NOW, tolerance_s=300)
    assert e.value.status == 400


def test_inside_the_window_is_accepted() -> None:
    body = body_of(payload())
    for skew in (-300, 0, 300):
        h = _lower(signed_headers(body, timestamp=NOW + skew))
        assert verify_request(h, body, [SECRET.encode()], now=NOW)[1] == NOW + skew


def test_malformed_delivery_id_is_400_even_when_signed() -> None:
    body = body_of(payload())
    h = _lower(signed_headers(body, timestamp=NOW, delivery_id="../../etc"))
    with pytest.raises(Rejected, match="malformed delivery id"):
        verify_request(h, body, [SECRET.encode()], now=NOW)


def test_rotation_accepts_any_configured_secret_and_any_listed_signature() -> None:
    body = body_of(payload())
    h = _lower(signed_headers(body, timestamp=NOW))
    assert verify_request(h, body, [b"old-secret-0123456789", SECRET.encode()], now=NOW)
    both = f"v1,AAAA {h['x-mlflow-signature']}"
    assert verify_request({**h, "x-mlflow-signature": both}, body, [SECRET.encode()], now=NOW)


def test_secret_from_env_or_private_file_never_from_a_shared_file(tmp_path: Path) -> None:
    assert load_secrets(env={"MLGATE_WEBHOOK_SECRET": SECRET}) == [SECRET.encode()]
    f = tmp_path / "secret"
    f.write_text(f"# comment\n{SECRET}\nsecond-secret-0123456789\n")
    os.chmod(f, 0o600)
    assert load_secrets(f, env={}) == [SECRET.encode(), b"second-secret-0123456789"]
    os.chmod(f, 0o644)
    with pytest.raises(UsageError, match="must not be readable by group or others"):
        load_secrets(f, env={})
    with pytest.raises(UsageError, match="no webhook secret"):
        load_secrets(env={})
    with pytest.raises(UsageError, match="at least 16"):
        load_secrets(env={"MLGATE_WEBHOOK_SECRET": "short"})
