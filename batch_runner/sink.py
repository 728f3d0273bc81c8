"""A minimal asyncio HTTP/1.1 sink for tests, benchmarks and demos: answers every request on keep-alive
connections, and can count requests per record and answer per a rule.

    python -m batch_runner.sink --port 9000          # 200 "ok" to everything (uvloop when installed)

In a test: ``Sink(rule).start()`` runs it on a thread; ``rule(body) -> status`` decides each answer.
"""
from __future__ import annotations

import argparse
import asyncio
import threading
from collections import Counter
from typing import Callable

Rule = Callable[[bytes], int]
REASONS = {200: b"OK", 400: b"Bad Request", 429: b"Too Many Requests", 500: b"Internal Server Error",
           503: b"Service Unavailable"}


class _Server(asyncio.Protocol):
    def __init__(self, sink: "Sink") -> None:
        self.sink = sink
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.sink.connections += 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        out = []
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = bytes(self.buf[:end]).lower()
            length = 0
            pos = head.find(b"\r\ncontent-length:")
            if pos >= 0:
                stop = head.find(b"\r\n", pos + 2)
                length = int(head[pos + 17:stop if stop > 0 else len(head)].strip())
            if len(self.buf) < end + 4 + length:
                break
            body = bytes(self.buf[end + 4:end + 4 + length])
            del self.buf[:end + 4 + length]
            status = self.sink.answer(body)
            text = b"ok" if status < 300 else b'{"error":"sink says %d"}' % status
            out.append(b"HTTP/1.1 %d %s\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n\r\n%s"
                       % (status, REASONS.get(status, b"X"), len(text), text))
        if out:
            self.transport.write(b"".join(out))  # type: ignore[union-attr]


class Sink:
    """An HTTP server that counts what it receives. ``requests`` counts every request body,
    ``ok`` the bodies it answered with 2xx."""

    def __init__(self, rule: Rule | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.rule = rule
        self.host, self.port = host, port
        self.requests: Counter[bytes] = Counter()
        self.ok: Counter[bytes] = Counter()
        self.total = 0
        self.connections = 0
        self.count_bodies = rule is not None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None

    def answer(self, body: bytes) -> int:
        self.total += 1
        if not self.count_bodies:
            return 200
        self.requests[body] += 1
        status = self.rule(body) if self.rule else 200
        if 200 <= status < 300:
            self.ok[body] += 1
        return status

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Server(self), self.host, self.port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    def start(self) -> "Sink":
        """Serve on a daemon thread; returns once it listens."""
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self.serve())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True, name="sink")
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            loop, server = self._loop, self._server

            async def close() -> None:
                if server is not None:
                    server.close()
                loop.stop()

            asyncio.run_coroutine_threadsafe(close(), loop)
            if self._thread is not None:
                self._thread.join(5)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def main() -> None:
    parser = argparse.ArgumentParser(description="HTTP sink answering 200 to everything")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    sink = Sink(host=args.host, port=args.port)

    async def forever() -> None:
        await sink.serve()
        print(f"sink listening on {sink.url}", flush=True)
        await asyncio.Event().wait()

    try:
        import uvloop
    except ImportError:
        asyncio.run(forever())
    else:
        uvloop.run(forever())


if __name__ == "__main__":
    main()
