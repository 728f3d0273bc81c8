from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from chronos_sdk import ClientState, MemoryTransport, NetworkError, Response
from chronos_sdk.spool import Spool

SDK_ROOT = Path(__file__).resolve().parents[1]


def ev(i, status="success", job="j"):
    return {"execId": f"e{i}", "jobId": job, "status": status, "startedAt": "2026-11-23T02:00:00.000Z"}


def down(req):
    return NetworkError("connection refused")


def test_events_are_delivered_in_batches(client, transport):
    for i in range(5):
        assert client.capture_event(ev(i))
    assert client.flush(5)
    assert [e["execId"] for e in transport.executions] == [f"e{i}" for i in range(5)]
    stats = client.stats()
    assert (stats["sent"], stats["accepted"], stats["spooled"]) == (5, 5, 0)


def test_app_id_is_added_to_every_event(make_client, transport):
    client = make_client(transport, app_id="billing")
    client.capture_event(ev(1))
    client.flush(5)
    assert transport.executions[0]["appId"] == "billing"


def test_events_go_to_the_spool_when_the_server_stays_away(make_client, tmp_path, fake_sleep):
    transport = MemoryTransport(handler=down)
    client = make_client(transport, max_retries=2)
    client.retrier.sleep = fake_sleep
    client.capture_event(ev(1, "running"))
    client.capture_event(ev(1, "success"))
    assert client.flush(5)
    assert client.stats()["spooled"] == 2 and client.stats()["lost"] == 0
    assert len(transport.requests) == 3  # 1 try + 2 retries, then the spool
    assert [(e["data"]["execId"], e["data"]["status"]) for e in client.spool.pending()] == \
        [("e1", "running"), ("e1", "success")]


def test_the_spool_is_replayed_in_order_before_newer_events(make_client, tmp_path, fake_sleep):
    offline = make_client(MemoryTransport(handler=down), max_retries=0)
    for i in range(3):
        offline.capture_event(ev(i))
    offline.close()
    assert len(Spool(offline.spool.path).pending()) == 3

    transport = MemoryTransport()
    back = make_client(transport)  # same endpoint and key: same spool
    back.capture_event(ev(3))
    assert back.flush(5)
    assert transport.wait_for(lambda t: len(t.executions) == 4, 5)
    assert [e["execId"] for e in transport.executions] == ["e0", "e1", "e2", "e3"]
    assert not back.spool.has_pending()
    assert back.stats()["replayed"] == 3


def test_a_new_client_replays_leftovers_without_new_events(make_client):
    offline = make_client(MemoryTransport(handler=down), max_retries=0)
    offline.capture_event(ev(7))
    offline.close()
    transport = MemoryTransport()
    make_client(transport)
    assert transport.wait_for(lambda t: len(t.executions) == 1, 5)
    assert transport.executions[0]["execId"] == "e7"


def test_spooled_events_are_removed_only_after_a_2xx(make_client, fake_sleep):
    offline = make_client(MemoryTransport(handler=down), max_retries=0)
    offline.capture_event(ev(1))
    offline.close()
    failing = MemoryTransport().enqueue(Response.of(503))
    client = make_client(failing, max_retries=0)
    client.flush(2)
    assert failing.wait_for(lambda t: len(t.requests) >= 1, 5)
    client.close()
    assert [r["data"]["execId"] for r in Spool(client.spool.path).pending()] == ["e1"]


def test_permanent_errors_are_not_retried_or_spooled(make_client):
    transport = MemoryTransport().enqueue(Response.of(401, {"error": {"code": "unauthorized",
                                                                      "message": "bad key"}}))
    client = make_client(transport)
    client.capture_event(ev(1))
    client.flush(5)
    assert len(transport.requests) == 1
    assert client.stats()["rejected"] == 1 and client.stats()["spooled"] == 0


def test_one_bad_event_does_not_cost_the_rest_of_its_batch(make_client):
    def server(req):
        if any(e["jobId"] == "bad" for e in req.json["executions"]):
            return Response.of(400, {"error": {"code": "invalid", "message": "bad event"}})
        return MemoryTransport._fake_server(req)

    transport = MemoryTransport(handler=server)
    client = make_client(transport, flush_interval=3600)
    for i in range(8):
        client.capture_event(ev(i, job="bad" if i == 5 else "j"))
    client.flush(5)
    assert sorted(e["execId"] for e in transport.executions) == [f"e{i}" for i in range(8) if i != 5]
    assert client.stats()["rejected"] == 1


def test_close_flushes_and_is_idempotent(client, transport):
    client.capture_event(ev(1))
    client.close()
    client.close()
    assert client.state is ClientState.CLOSED
    assert [e["execId"] for e in transport.executions] == ["e1"]
    assert client.capture_event(ev(2)) is False


def test_the_context_manager_closes(make_client, transport):
    with make_client(transport) as client:
        client.capture_event(ev(1))
        assert client.state is ClientState.OPEN
    assert client.state is ClientState.CLOSED and len(transport.executions) == 1


def test_close_spools_what_a_stuck_delivery_holds(make_client):
    transport = MemoryTransport(handler=down)
    client = make_client(transport)  # default retry window: ~20 s of waiting
    client.capture_event(ev(1))
    client.close(timeout=0.2)  # the retry wait is aborted and the batch spooled
    assert [r["data"]["execId"] for r in Spool(client.spool.path).pending()] == ["e1"]


def test_a_filling_queue_cuts_the_retry_window_short_instead_of_dropping(make_client):
    # The server is away and the first batch waits out a ~20 s retry window on the worker thread.
    # Events keep coming: once half the queue is used, the batch goes to the spool at once and
    # later events follow it there; none is dropped.
    transport = MemoryTransport(handler=down)
    client = make_client(transport, queue_size=10, batch_size=2, flush_interval=0.05)
    client.capture_event(ev(0))
    assert transport.wait_for(lambda t: len(t.requests) >= 1, 5)  # the worker is retrying now
    for i in range(1, 6):  # 5 queued = half of queue_size while the batch is in flight
        assert client.capture_event(ev(i))
    for _ in range(500):
        if client.retrier.cut_short:
            break
        threading.Event().wait(0.01)
    assert client.retrier.cut_short == 1
    for i in range(6, 30):  # the client is offline now: everything goes straight to the spool
        assert client.capture_event(ev(i))
        if client.worker.pending() >= 8:
            client.flush(5)
    assert client.flush(5)
    stats = client.stats()
    assert (stats["dropped"], stats["lost"], stats["spooled"]) == (0, 0, 30)
    assert [r["data"]["execId"] for r in Spool(client.spool.path).pending()] == [f"e{i}" for i in range(30)]


def test_flush_callback_reports_pending_events(make_client, transport):
    client = make_client(transport, flush_interval=3600)
    client.capture_event(ev(1))
    seen = []
    assert client.flush(5, callback=lambda pending, timeout: seen.append(pending))
    assert seen == [1]


def test_register_jobs_returns_the_server_answer(client, transport):
    answer = client.register_jobs([{"id": "nightly", "schedule": "0 2 * * *", "name": "Nightly"}])
    assert answer["registered"] == 1
    job = transport.jobs[0]
    assert job["id"] == "nightly" and job["runMode"] == "recurring" and job["signatureHash"]


def _run_script(body: str, tmp_path: Path) -> subprocess.CompletedProcess:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run([sys.executable, str(script)], cwd=str(tmp_path), capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                                                      "PYTHONPATH": str(SDK_ROOT)})


def test_events_pending_at_exit_are_flushed_by_the_atexit_hook(tmp_path):
    out = tmp_path / "sent.jsonl"
    result = _run_script(f"""
        import json, chronos_sdk
        from chronos_sdk import MemoryTransport

        class FileTransport(MemoryTransport):
            def request(self, method, path, **kw):
                resp = super().request(method, path, **kw)
                with open({str(out)!r}, "a") as fh:
                    fh.write(json.dumps(kw["json"]) + "\\n")
                return resp

        chronos_sdk.init("chr_x", transport=FileTransport(), flush_interval=3600, spool_dir=False)
        with chronos_sdk.monitor("exit-job"):
            print("working")
        # no flush, no close: the process just ends
    """, tmp_path)
    assert result.returncode == 0, result.stderr
    sent = [json_line for json_line in out.read_text().splitlines()]
    assert len(sent) == 1 and '"exit-job"' in sent[0] and '"success"' in sent[0]


def test_events_left_at_exit_go_to_the_spool_when_the_server_is_away(tmp_path):
    result = _run_script(f"""
        import chronos_sdk
        chronos_sdk.init("chr_x", endpoint="http://127.0.0.1:9", spool_dir={str(tmp_path / 'sp')!r},
                         shutdown_timeout=0.5, timeout=0.5)
        with chronos_sdk.monitor("offline-job"):
            pass
    """, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "written to the spool" in result.stderr
    spool_dirs = list((tmp_path / "sp").iterdir())
    records = Spool(spool_dirs[0]).pending()
    assert [(r["data"]["jobId"], r["data"]["status"]) for r in records] == \
        [("offline-job", "running"), ("offline-job", "success")]
