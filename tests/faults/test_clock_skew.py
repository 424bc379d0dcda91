"""Clock skew: policy-exception expiry is judged on the UTC date whatever the machine's time zone,
and the webhook replay window accepts a sender's clock up to the tolerance off (either way) and
refuses one further off, whatever the receiver's time zone."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlgate.model import Finding, FindingKind, Location, Severity, Verdict, utc_today
from mlgate.policy import load_policy

POLICY = """
apiVersion: mlgate/v1
name: t
checkpoints:
  pre-publish: {{gates: [model-scan]}}
exceptions:
  - id: EXC-1
    rule: "X-*"
    reason: reviewed by the security team
    owner: sec@example.com
    expires: {expires}
"""


@pytest.fixture
def far_time_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[dt.date]:
    """A time zone whose local date is not the UTC date right now; yields the local date."""
    hour = dt.datetime.now(dt.UTC).hour
    # POSIX TZ signs are inverted: UTC+12 is "XXX-12". Before noon UTC, UTC-12 is yesterday; after, UTC+14 is tomorrow.
    monkeypatch.setenv("TZ", "FAR+12" if hour < 12 else "FAR-14")
    time.tzset()
    try:
        local = dt.date.today()
        if local == utc_today():  # the hour turned over between the two reads: try once more
            pytest.skip("the local and UTC dates agree at this instant")
        yield local
    finally:
        monkeypatch.undo()
        time.tzset()


def _finding() -> Finding:
    return Finding(id="X-1", title="t", severity=Severity.MEDIUM, kind=FindingKind.ISSUE, message="m",
                   location=Location(path="a"), engine="t")


@pytest.mark.parametrize("days", [-1, 0, 1])
def test_exception_expiry_is_judged_on_the_utc_date(
    far_time_zone: dt.date, tmp_path: Path, days: int
) -> None:
    today = utc_today()
    assert today == dt.datetime.now(dt.UTC).date() != far_time_zone
    expires = today + dt.timedelta(days=days)
    p = tmp_path / "p.yaml"
    p.write_text(POLICY.format(expires=expires.isoformat()))
    pol = load_policy(p)
    in_force = today <= expires  # the last day of an exception is its expiry date, in UTC
    judged, verdict, _ = pol.judge_findings([_finding()], "a", "pre-publish")
    assert (verdict is Verdict.PASS) is in_force
    assert (judged[0].waived is not None) is in_force
    assert bool(pol.expired_exceptions()) is not in_force


@pytest.fixture(params=["UTC0", "FAR+12", "FAR-14"])
def any_time_zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(("skew", "accepted"), [(0, True), (-299, True), (299, True), (-301, False), (301, False),
                                                (-86_400, False), (3_600 * 14, False)])
def test_webhook_window_under_sender_clock_skew(any_time_zone: None, skew: int, accepted: bool) -> None:
    from mlgate.hooks.verify import DEFAULT_TOLERANCE_S, Rejected, sign, verify_request

    assert DEFAULT_TOLERANCE_S == 300
    now = time.time()
    ts = str(int(now) + skew)
    body = b'{"entity": "model_version", "action": "created"}'
    headers = {"x-mlflow-signature": sign("s3cret", "d-1", ts, body), "x-mlflow-delivery-id": "d-1",
               "x-mlflow-timestamp": ts}
    if accepted:
        assert verify_request(headers, body, [b"s3cret"], now=now) == ("d-1", int(ts))
    else:
        with pytest.raises(Rejected, match="replay window") as ei:
            verify_request(headers, body, [b"s3cret"], now=now)
        assert ei.value.status == 400
        assert "replay window" in str(ei.value)
