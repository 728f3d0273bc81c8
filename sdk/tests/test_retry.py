from __future__ import annotations

import pytest

from chronos_sdk import APIError, MemoryTransport, NetworkError, Response, RetriesExhausted
from chronos_sdk.retry import Retrier, RetryPolicy, parse_retry_after

PATH = "/api/ingest/executions/batch"


def make(fake_sleep, **policy):
    return Retrier(RetryPolicy(**policy), sleep=fake_sleep, clock=fake_sleep.clock)


def test_it_waits_exactly_retry_after_on_429(fake_sleep):
    t = MemoryTransport().enqueue(Response.of(429, {}, {"Retry-After": "7"}), 200)
    resp = make(fake_sleep).call(t, "POST", PATH, json={"executions": []})
    assert resp.status == 200
    assert fake_sleep.calls == [7.0]
    assert len(t.requests) == 2


def test_it_backs_off_exponentially_with_jitter_on_5xx_and_network_errors(fake_sleep):
    t = MemoryTransport().enqueue(503, NetworkError("refused"), 502, 200)
    make(fake_sleep, base_delay=1.0, max_delay=8.0).call(t, "POST", PATH, json={})
    assert len(fake_sleep.calls) == 3
    for n, delay in enumerate(fake_sleep.calls, start=1):
        full = min(8.0, 2 ** (n - 1))
        assert full * 0.5 <= delay <= full


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413])
def test_it_never_retries_permanent_errors(fake_sleep, status):
    body = {"error": {"code": "bad", "message": "nope", "details": {"index": 0}}}
    t = MemoryTransport().enqueue(Response.of(status, body))
    with pytest.raises(APIError) as info:
        make(fake_sleep).call(t, "POST", PATH, json={})
    assert (info.value.status, info.value.code, info.value.details) == (status, "bad", {"index": 0})
    assert fake_sleep.calls == [] and len(t.requests) == 1


def test_it_gives_up_after_the_retry_window(fake_sleep):
    t = MemoryTransport(handler=lambda req: NetworkError("down"))
    with pytest.raises(RetriesExhausted):
        make(fake_sleep, max_retries=3).call(t, "POST", PATH, json={})
    assert len(t.requests) == 4 and len(fake_sleep.calls) == 3


def test_a_retry_after_longer_than_the_cap_is_not_waited_for(fake_sleep):
    t = MemoryTransport().enqueue(Response.of(429, {}, {"Retry-After": "3600"}))
    with pytest.raises(RetriesExhausted):
        make(fake_sleep, max_retry_after=60).call(t, "POST", PATH, json={})
    assert fake_sleep.calls == []


def test_a_429_slows_down_the_next_request_to_the_same_path(fake_sleep):
    retrier = make(fake_sleep, max_retries=0)
    t = MemoryTransport().enqueue(Response.of(429, {}, {"Retry-After": "5"}), 200)
    with pytest.raises(RetriesExhausted):
        retrier.call(t, "POST", PATH, json={})
    fake_sleep.now += 2
    retrier.call(t, "POST", PATH, json={})
    assert fake_sleep.calls == [pytest.approx(3.0)]


def test_retry_after_accepts_seconds_and_http_dates():
    from datetime import datetime, timezone

    now = datetime(2026, 11, 23, 2, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("Mon, 23 Nov 2026 02:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
