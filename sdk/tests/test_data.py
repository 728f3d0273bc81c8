from __future__ import annotations

import sys
from datetime import datetime, timezone

import pytest

from chronos_sdk import MemoryTransport, MissingDependencyError, Response

PAGES = {
    None: {"items": [{"execId": "1", "startedAt": "2026-11-23T02:00:00.000Z"},
                     {"execId": "2", "startedAt": "2026-11-23T01:00:00.000Z"}], "nextCursor": "c2"},
    "c2": {"items": [{"execId": "3", "startedAt": "2026-11-23T00:00:00.000Z"}], "nextCursor": "c3"},
    "c3": {"items": [{"execId": "4", "startedAt": "2026-11-22T23:00:00.000Z"}], "nextCursor": None},
}


def paged(req):
    return Response.of(200, PAGES[req.params.get("cursor")])


def test_executions_follow_next_cursor(make_client):
    transport = MemoryTransport(handler=paged)
    client = make_client(transport)
    since = datetime(2026, 11, 22, tzinfo=timezone.utc)
    items = list(client.executions(job_id="nightly", since=since, until=1795000000000,
                                   status="failed", page_size=2))
    assert [i["execId"] for i in items] == ["1", "2", "3", "4"]
    first = transport.requests[0]
    assert first.path == "/api/executions"
    assert first.params == {"jobId": "nightly", "status": "failed", "from": "2026-11-22T00:00:00.000Z",
                            "to": "1795000000000", "limit": 2}
    assert [r.params.get("cursor") for r in transport.requests] == [None, "c2", "c3"]


def test_executions_are_fetched_lazily(make_client):
    transport = MemoryTransport(handler=paged)
    client = make_client(transport)
    iterator = client.executions()
    next(iterator)
    assert len(transport.requests) == 1


def test_executions_frame_needs_pandas(make_client, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    client = make_client(MemoryTransport(handler=paged))
    with pytest.raises(MissingDependencyError, match=r"chronos-synapse-sdk\[pandas\]"):
        client.executions_frame()


def test_executions_frame_parses_times(make_client):
    pd = pytest.importorskip("pandas")
    client = make_client(MemoryTransport(handler=paged))
    frame = client.executions_frame()
    assert list(frame["execId"]) == ["1", "2", "3", "4"]
    assert str(frame["startedAt"].dt.tz) == "UTC"
    assert frame["startedAt"].iloc[0] == pd.Timestamp("2026-11-23T02:00:00Z")
