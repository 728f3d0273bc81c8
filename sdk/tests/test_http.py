"""The real requests transport against a tiny http.server on 127.0.0.1 standing in for Chronos."""
from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Deque, Dict, List, Tuple
from urllib.parse import parse_qs, urlparse

import pytest

from chronos_sdk import APIError, ChronosClient, NetworkError
from chronos_sdk.sse import EventStream
from chronos_sdk.transport import RequestsTransport


class FakeChronos(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.seen: List[Dict[str, Any]] = []
        self.script: Deque[Tuple[int, Dict[str, str], Any]] = deque()
        self.stream_release = threading.Event()
        self.stream_released_in_time = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: FakeChronos

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _reply(self, status: int, body: Any, headers: Dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        body = json.loads(raw)
        self.server.seen.append({"method": "POST", "path": self.path, "headers": dict(self.headers),
                                 "json": body})
        if self.server.script:
            status, headers, answer = self.server.script.popleft()
            return self._reply(status, answer, headers)
        if self.path.endswith("/executions/batch"):
            return self._reply(200, {"accepted": len(body["executions"]), "duplicates": 0})
        if self.path.endswith("/jobs/register"):
            return self._reply(200, {"registered": len(body["jobs"]), "jobs": body["jobs"]})
        self._reply(404, {"error": {"code": "not_found", "message": "no route"}})

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.server.seen.append({"method": "GET", "path": url.path, "query": query,
                                 "headers": dict(self.headers)})
        if url.path == "/api/executions":
            if self.headers.get("x-api-key") != "chr_test":
                return self._reply(401, {"error": {"code": "unauthorized", "message": "bad key",
                                                   "details": None}})
            page = {None: {"items": [{"execId": "a"}], "nextCursor": "p2"},
                    "p2": {"items": [{"execId": "b"}], "nextCursor": None}}[query.get("cursor")]
            return self._reply(200, page)
        if url.path == "/api/stream":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(b": ping\n\nid: 7\nevent: job:trigger\n"
                             b'data: {"jobId": "report", "triggerId": "t-7"}\n\n')
            self.wfile.flush()
            # Hold the connection open: the client must see the event before the stream ends.
            self.server.stream_released_in_time = self.server.stream_release.wait(10)
            return
        self._reply(404, {"error": {"code": "not_found", "message": "no route"}})


@pytest.fixture
def server():
    srv = FakeChronos()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.stream_release.set()
    srv.shutdown()
    srv.server_close()


def test_batches_are_gzipped_keyed_and_retried_after_429(server, tmp_path, fake_sleep):
    server.script.append((429, {"Retry-After": "1"}, {"error": {"code": "rate_limited", "message": "slow"}}))
    client = ChronosClient("chr_test", endpoint=server.url, spool_dir=str(tmp_path), flush_interval=3600)
    client.retrier.sleep = fake_sleep
    client.capture_event({"execId": "e1", "jobId": "j", "status": "running",
                          "startedAt": "2026-11-23T02:00:00.000Z"})
    client.capture_event({"execId": "e1", "jobId": "j", "status": "success",
                          "startedAt": "2026-11-23T02:00:00.000Z",
                          "finishedAt": "2026-11-23T02:00:01.500Z", "durationMs": 1500})
    assert client.flush(10)
    client.close()
    posts = [s for s in server.seen if s["method"] == "POST"]
    assert len(posts) == 2 and fake_sleep.calls == [1.0]
    for post in posts:
        assert post["path"] == "/api/ingest/executions/batch"
        assert post["headers"]["Content-Encoding"] == "gzip"
        assert post["headers"]["x-api-key"] == "chr_test"
        assert post["headers"]["Content-Type"] == "application/json"
    assert [e["status"] for e in posts[1]["json"]["executions"]] == ["running", "success"]
    assert client.stats()["sent"] == 2 and client.stats()["spooled"] == 0


def test_register_jobs_and_read_executions_over_http(server, tmp_path):
    with ChronosClient("chr_test", endpoint=server.url, spool_dir=str(tmp_path), gzip=False) as client:
        answer = client.register_jobs([{"id": "report", "schedule": "0 * * * *"}])
        assert answer["registered"] == 1
        assert [e["execId"] for e in client.executions(job_id="report", page_size=1)] == ["a", "b"]
    gets = [s for s in server.seen if s["method"] == "GET"]
    assert gets[0]["query"] == {"jobId": "report", "limit": "1"}
    assert gets[1]["query"]["cursor"] == "p2"
    assert "Content-Encoding" not in [s for s in server.seen if s["method"] == "POST"][0]["headers"]


def test_a_permanent_error_carries_the_servers_error_body(server, tmp_path):
    with ChronosClient("chr_wrong", endpoint=server.url, spool_dir=str(tmp_path)) as client:
        with pytest.raises(APIError) as info:
            list(client.executions())
    assert (info.value.status, info.value.code, info.value.message) == (401, "unauthorized", "bad key")


def test_the_event_stream_delivers_events_while_the_connection_stays_open(server):
    transport = RequestsTransport(server.url, "chr_test", timeout=5)
    stream = EventStream(transport)
    event = next(iter(stream))
    server.stream_release.set()
    stream.close()
    for _ in range(500):  # the handler notes whether it was released or gave up waiting
        if server.stream_released_in_time is not None:
            break
        time.sleep(0.01)
    assert server.stream_released_in_time is True  # the event arrived while the stream was open
    assert (event.event, event.id, event.json()["triggerId"]) == ("job:trigger", "7", "t-7")
    request = [s for s in server.seen if s["path"] == "/api/stream"][0]
    assert request["headers"]["Accept"] == "text/event-stream"
    assert request["headers"]["x-api-key"] == "chr_test"


def test_close_wakes_a_reader_blocked_on_a_connection_close_stream(server):
    # http.server answers HTTP/1.0, as werkzeug and some proxies answer with "Connection: close":
    # http.client then hands the socket to the response and the pooled connection forgets it.
    transport = RequestsTransport(server.url, "chr_test", timeout=5)
    stream = EventStream(transport)
    got: List[Any] = []
    reader = threading.Thread(target=lambda: got.extend(stream), daemon=True)
    reader.start()
    for _ in range(500):
        if got:
            break
        time.sleep(0.01)
    assert got and got[0].event == "job:trigger"
    stream.close()  # the reader is blocked in recv(); the server holds the stream open for 10 s
    reader.join(5)
    assert not reader.is_alive()
    assert server.stream_released_in_time is None  # the server was still holding it: close() woke the reader


def test_a_stream_cut_off_mid_chunk_is_a_network_error_and_the_event_stream_reconnects():
    # A server restart drops a chunked SSE response without its last chunk; urllib3 raises its own
    # ProtocolError there, which must not escape the stream (it would end a runner's server loop).
    import socketserver

    connections: List[int] = []

    class Cut(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            connections.append(1)
            body = f"id: {len(connections)}\nevent: job:trigger\ndata: {{}}\n\n".encode()
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n")
            self.wfile.write(b"%x\r\n%s\r\n" % (len(body), body))
            self.wfile.flush()  # then the connection closes without the terminating chunk

    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Cut)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        transport = RequestsTransport(f"http://127.0.0.1:{srv.server_address[1]}", "chr_test", timeout=5)
        with pytest.raises(NetworkError):
            list(transport.stream("/api/stream"))
        stream = EventStream(transport, sleep=lambda _: None)
        events = []
        for event in stream:
            events.append(event)
            if len(events) == 2:
                stream.close()
        assert [e.id for e in events] == ["2", "3"]  # the second event came over a new connection
        assert stream.connects == 2
    finally:
        srv.shutdown()
        srv.server_close()


def test_a_closed_port_is_a_network_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once the socket closes
    transport = RequestsTransport(f"http://127.0.0.1:{port}", "chr_x", timeout=2)
    with pytest.raises(NetworkError):
        transport.request("POST", "/api/ingest/executions/batch", json={"executions": []})
