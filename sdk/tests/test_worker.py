from __future__ import annotations

import json
import os
import threading

import pytest

from chronos_sdk import MemoryTransport
from chronos_sdk.worker import BackgroundWorker


def test_the_sink_gets_batches_no_larger_than_batch_size():
    batches = []
    worker = BackgroundWorker(batches.append, batch_size=3, flush_interval=60)
    for i in range(7):
        assert worker.submit(i)
    assert worker.flush(5)
    assert [x for b in batches for x in b] == list(range(7))
    assert all(1 <= len(b) <= 3 for b in batches)
    worker.stop()


def test_a_full_batch_is_sent_without_waiting_for_the_interval():
    got = threading.Event()
    worker = BackgroundWorker(lambda items: got.set(), batch_size=2, flush_interval=3600)
    worker.submit("a")
    worker.submit("b")
    assert got.wait(5)
    worker.stop()


def test_a_partial_batch_is_sent_after_the_flush_interval():
    got = threading.Event()
    worker = BackgroundWorker(lambda items: got.set(), batch_size=100, flush_interval=0.05)
    worker.submit("a")
    assert got.wait(5)  # nobody called flush(): the time trigger sent it
    worker.stop()


def test_submit_never_blocks_and_counts_drops_when_full():
    release = threading.Event()
    worker = BackgroundWorker(lambda items: release.wait(5), queue_size=2, batch_size=100,
                              flush_interval=3600)
    assert worker.submit(1) and worker.submit(2)
    assert worker.submit(3) is False
    assert worker.submit(4) is False
    assert (worker.submitted, worker.dropped) == (2, 2)
    release.set()
    worker.stop()


def test_client_stats_expose_dropped_events(make_client):
    gate = threading.Event()
    transport = MemoryTransport(handler=lambda req: (gate.wait(5), MemoryTransport._fake_server(req))[1])
    client = make_client(transport, queue_size=1, flush_interval=3600, batch_size=1000)
    results = [client.capture_event({"execId": str(i), "jobId": "j", "status": "running"})
               for i in range(5)]
    gate.set()
    assert results[0] is True and results.count(False) >= 3
    assert client.stats()["dropped"] == results.count(False)


def test_the_thread_starts_on_first_submit_not_before():
    before = threading.active_count()
    worker = BackgroundWorker(lambda items: None)
    assert threading.active_count() == before
    worker.submit(1)
    assert threading.active_count() == before + 1
    worker.stop()


def test_stop_returns_what_was_not_handed_to_the_sink():
    worker = BackgroundWorker(lambda items: None, batch_size=100, flush_interval=3600)
    worker.submit("x")
    worker.submit("y")
    assert worker.stop(timeout=1) == ["x", "y"]
    assert worker.submit("z") is False


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # forking a threaded process is the point
def test_after_fork_the_child_has_its_own_empty_queue_and_thread(make_client):
    transport = MemoryTransport()
    client = make_client(transport, flush_interval=3600, batch_size=1000)
    client.capture_event({"execId": "parent-1", "jobId": "j", "status": "running"})
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.close(r)
            inherited = client.worker.pending()
            client.capture_event({"execId": "child-1", "jobId": "j", "status": "running"})
            flushed = client.flush(5)
            sent = [e["execId"] for e in transport.executions]
            os.write(w, json.dumps({"inherited": inherited, "flushed": flushed, "sent": sent,
                                    "pid_ok": client.worker._pid == os.getpid()}).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as fh:
        report = json.loads(fh.read() or "{}")
    os.waitpid(pid, 0)
    assert report == {"inherited": 0, "flushed": True, "sent": ["child-1"], "pid_ok": True}
    assert client.flush(5)
    assert [e["execId"] for e in transport.executions] == ["parent-1"]
