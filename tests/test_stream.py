"""GET /api/stream: live events over SSE, owner-scoped, resumable with Last-Event-ID."""
from __future__ import annotations

import json
import queue
import threading

import requests

from tests.conftest import ADMIN_KEY
from tests.helpers import batch, execution


def read_events(url: str, key: str, out: queue.Queue, stop: threading.Event, last_id: str | None = None) -> None:
    headers = {"x-api-key": key, "Accept": "text/event-stream"}
    if last_id:
        headers["Last-Event-ID"] = last_id
    try:
        with requests.get(url + "/api/stream", headers=headers, stream=True, timeout=10) as resp:
            out.put(("status", resp.status_code))
            event: dict[str, str] = {}
            for line in resp.iter_lines(decode_unicode=True):
                if stop.is_set():
                    return
                if line == "":
                    if "data" in event:
                        out.put(("event", event))
                    event = {}
                elif line.startswith(":"):
                    out.put(("comment", line))
                else:
                    field, _, value = line.partition(": ")
                    event[field] = value
    except requests.RequestException:
        return  # the server went away at the end of the session


def start_reader(url, key, last_id=None):
    q: queue.Queue = queue.Queue()
    stop = threading.Event()
    t = threading.Thread(target=read_events, args=(url, key, q, stop, last_id), daemon=True)
    t.start()
    assert q.get(timeout=30) == ("status", 200)
    assert q.get(timeout=30)[0] == "comment"  # ": connected"
    return q, stop


def next_event(q: queue.Queue) -> dict[str, str]:
    while True:
        kind, value = q.get(timeout=30)
        if kind == "event":
            return value


def post(url, key, *events):
    resp = requests.post(url + "/api/ingest/executions/batch", json=batch(*events), headers={"x-api-key": key}, timeout=10)
    assert resp.status_code == 200, resp.text


def test_an_ingested_execution_arrives_on_the_stream(live_server, app):
    q, stop = start_reader(live_server, ADMIN_KEY)
    post(live_server, ADMIN_KEY, execution("live-1", "job-live", "failed", errorMessage="<b>boom</b>"))
    ev = next_event(q)
    stop.set()
    assert ev["event"] == "execution"
    data = json.loads(ev["data"])
    assert (data["execId"], data["status"], data["errorMessage"]) == ("live-1", "failed", "<b>boom</b>")
    assert ev["id"]


def test_last_event_id_replays_what_was_missed(live_server, app):
    q, stop = start_reader(live_server, ADMIN_KEY)
    post(live_server, ADMIN_KEY, execution("r-1", "job-live"))
    first = next_event(q)
    stop.set()
    post(live_server, ADMIN_KEY, execution("r-2", "job-live"), execution("r-3", "job-live"))
    q2, stop2 = start_reader(live_server, ADMIN_KEY, last_id=first["id"])
    got = [json.loads(next_event(q2)["data"])["execId"] for _ in range(2)]
    stop2.set()
    assert got == ["r-2", "r-3"]


def test_a_replay_longer_than_one_read_arrives_whole_and_in_order(live_server, app):
    """More than REPLAY_LIMIT missed events (one read's worth) still all arrive after a reconnect."""
    from ingest_api.stream import REPLAY_LIMIT

    q, stop = start_reader(live_server, ADMIN_KEY)
    post(live_server, ADMIN_KEY, execution("m-start", "job-live"))
    first = next_event(q)
    stop.set()
    ids = [f"m-{i:05d}" for i in range(REPLAY_LIMIT + 250)]
    for i in range(0, len(ids), 500):
        post(live_server, ADMIN_KEY, *(execution(x, "job-live") for x in ids[i:i + 500]))
    q2, stop2 = start_reader(live_server, ADMIN_KEY, last_id=first["id"])
    got = [json.loads(next_event(q2)["data"])["execId"] for _ in ids]
    stop2.set()
    assert got == ids


def test_a_user_never_receives_another_users_events(live_server, app, make_user):
    _uid, other_key = make_user("eve@example.com")
    q, stop = start_reader(live_server, other_key)
    post(live_server, ADMIN_KEY, execution("admin-secret", "job-live"))
    post(live_server, other_key, execution("eve-own", "job-eve"))
    ev = next_event(q)
    stop.set()
    assert json.loads(ev["data"])["execId"] == "eve-own"


def test_the_stream_needs_credentials(live_server, app):
    assert requests.get(live_server + "/api/stream", timeout=5).status_code == 401
