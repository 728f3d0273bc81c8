"""Helpers for the scheduler tests (no tests here): a settable clock, job set-up, reading fired triggers."""
from __future__ import annotations

from typing import Any

import orjson

from chronos import keys
from chronos.scheduling import cron
from chronos.store import jobs as job_store


class FakeClock:
    """Epoch-ms clock the test moves by hand."""

    def __init__(self, start_ms: int) -> None:
        self.now = start_ms

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> int:
        self.now += ms
        return self.now


def add_job(r, owner: str, job_id: str, schedule: str | None = None, *, start_ms: int, tz: str | None = None,
            **fields: Any) -> dict[str, Any]:
    """Register a job as the SDK would, with ``nextRunAt`` computed as of ``start_ms`` (the fake now)."""
    definition = {"id": job_id, "name": job_id, "runMode": fields.pop("runMode", "recurring")}
    if schedule:
        definition["schedule"] = schedule
    if tz:
        definition["timezone"] = tz
    if "runAt" in fields:
        definition["runAt"] = fields.pop("runAt")
    job_store.upsert(r, owner, [definition])
    if definition.get("runMode") == "once" and definition.get("runAt") is not None:
        nxt = definition["runAt"]
    elif schedule:
        nxt = cron.next_after(schedule, tz, start_ms)
    else:
        nxt = None
    patch = {"nextRunAt": nxt, **fields}
    r.execute_command("JSON.MERGE", keys.job(owner, job_id), "$", orjson.dumps(patch))
    return job_store.get(r, owner, job_id)


def events(r, owner: str, kind: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(type, data) of every event in the owner's stream, oldest first."""
    out = []
    for _id, fields in r.xrange(keys.events(owner), "-", "+"):
        t = fields[b"type"].decode()
        if kind is None or t == kind:
            out.append((t, orjson.loads(fields[b"data"])))
    return out


def triggers(r, owner: str) -> list[tuple[str, str]]:
    """(jobId, scheduledFor) of every job:trigger event sent to the owner."""
    return [(d["jobId"], d["scheduledFor"]) for _t, d in events(r, owner, "job:trigger")]


def settings_of(app):
    return app.extensions["chronos"].settings


def tick_together(schedulers, now: int) -> None:
    """Tick every scheduler at ``now``, each on its own thread, released at the same moment."""
    import threading

    barrier = threading.Barrier(len(schedulers))

    def run(s) -> None:
        barrier.wait()
        s.tick(now)

    threads = [threading.Thread(target=run, args=(s,)) for s in schedulers]
    [t.start() for t in threads]
    [t.join() for t in threads]


def post(client, key: str, *events: dict[str, Any]) -> None:
    """Report execution events through the ingest API."""
    resp = client.post("/api/ingest/executions/batch", headers={"x-api-key": key}, json={"executions": list(events)})
    assert resp.status_code == 200, resp.json


def flips(client, key: str, job_id: str) -> list[tuple[str, str]]:
    """(from, to) of the job's state changes, oldest first."""
    items = client.get(f"/api/jobs/{job_id}/flips", headers={"x-api-key": key}).json["items"]
    return [(f["from"], f["to"]) for f in reversed(items)]


class Receiver:
    """An HTTP server on 127.0.0.1 that records every request and answers with ``statuses`` in turn
    (the last one repeats). Use as a context manager; ``url`` is its base URL."""

    def __init__(self, statuses: tuple[int, ...] = (200,), body: bytes = b"ok") -> None:
        import http.server
        import threading

        self.requests: list[dict[str, Any]] = []
        self.statuses = list(statuses)
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else b""
                with outer.lock:
                    outer.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                           "body": data})
                    status = outer.statuses.pop(0) if len(outer.statuses) > 1 else outer.statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _any

            def log_message(self, *_a: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def json(self) -> list[Any]:
        return [orjson.loads(x["body"]) for x in self.requests]


class SmtpServer:
    """A minimal SMTP server on 127.0.0.1 that keeps every message (``messages``: envelope + raw data)."""

    def __init__(self) -> None:
        import socketserver
        import threading

        self.messages: list[dict[str, Any]] = []
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.wfile.write(b"220 test-smtp ready\r\n")
                mail_from, rcpt = "", []
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    cmd = line.decode("ascii", "replace").strip()
                    upper = cmd.upper()
                    if upper.startswith(("EHLO", "HELO")):
                        self.wfile.write(b"250 test-smtp\r\n")
                    elif upper.startswith("MAIL FROM:"):
                        mail_from = cmd[10:].strip()
                        self.wfile.write(b"250 ok\r\n")
                    elif upper.startswith("RCPT TO:"):
                        rcpt.append(cmd[8:].strip())
                        self.wfile.write(b"250 ok\r\n")
                    elif upper == "DATA":
                        self.wfile.write(b"354 go ahead\r\n")
                        data = b""
                        while not data.endswith(b"\r\n.\r\n"):
                            chunk = self.rfile.readline()
                            if not chunk:
                                return
                            data += chunk
                        outer.messages.append({"from": mail_from, "to": rcpt, "data": data[:-5].decode()})
                        mail_from, rcpt = "", []
                        self.wfile.write(b"250 queued\r\n")
                    elif upper == "QUIT":
                        self.wfile.write(b"221 bye\r\n")
                        return
                    else:
                        self.wfile.write(b"250 ok\r\n")

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def __enter__(self) -> "SmtpServer":
        self.thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
