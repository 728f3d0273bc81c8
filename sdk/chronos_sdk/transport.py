"""How the SDK talks HTTP.

:class:`Transport` is the pluggable interface: ``request()`` for JSON calls and
``stream()`` for the Server-Sent Events trigger stream. :class:`RequestsTransport`
is the real one; :class:`MemoryTransport` records requests in memory and answers
from a script, for unit tests (yours and ours).
"""
from __future__ import annotations

import abc
import gzip as gzip_mod
import json as json_mod
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, Iterator, List, Mapping, Optional, Union

from ._version import __version__
from .exceptions import APIError, NetworkError

USER_AGENT = f"chronos-synapse-sdk-python/{__version__}"


@dataclass
class Response:
    """An HTTP answer. Header names are lower-case."""

    status: int
    headers: Dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The decoded JSON body, or None when the body is empty or not JSON."""
        if not self.body:
            return None
        try:
            return json_mod.loads(self.body.decode("utf-8"))
        except ValueError:
            return None

    @classmethod
    def of(cls, status: int, data: Any = None, headers: Optional[Mapping[str, str]] = None) -> "Response":
        body = b"" if data is None else json_mod.dumps(data).encode()
        return cls(status, {k.lower(): str(v) for k, v in (headers or {}).items()}, body)


def api_error(resp: Response) -> APIError:
    """An :class:`APIError` carrying the server's ``{"error": {...}}`` fields when present."""
    data = resp.json()
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        return APIError(resp.status, str(err.get("message") or ""), err.get("code"), err.get("details"))
    if isinstance(err, str):
        return APIError(resp.status, err)
    return APIError(resp.status, resp.body[:200].decode("utf-8", "replace") or "request refused")


class LineStream(abc.ABC):
    """An open streaming response read line by line (without line endings)."""

    @abc.abstractmethod
    def __iter__(self) -> Iterator[str]: ...

    @abc.abstractmethod
    def close(self) -> None:
        """Stop the stream; a reader blocked in iteration ends soon after. Safe from any thread."""


class Transport(abc.ABC):
    """What the client needs from HTTP. ``path`` starts with ``/api/``.

    ``request`` returns every HTTP answer as a :class:`Response` (it does not raise
    for 4xx/5xx) and raises :class:`NetworkError` when no answer came.
    ``stream`` raises :class:`APIError` for a permanent refusal and
    :class:`NetworkError` for anything worth reconnecting after.
    """

    @abc.abstractmethod
    def request(self, method: str, path: str, *, json: Any = None,
                params: Optional[Mapping[str, Any]] = None) -> Response: ...

    def stream(self, path: str, *, headers: Optional[Mapping[str, str]] = None,
               read_timeout: float = 60.0) -> LineStream:
        raise NotImplementedError("this transport does not support streaming")

    def close(self) -> None:
        """Release connections. Idempotent."""

    def reset_after_fork(self) -> None:
        """Drop connections inherited from the parent process."""


class RequestsTransport(Transport):
    """HTTP through ``requests`` with the ``x-api-key`` header and optional gzip bodies."""

    def __init__(self, endpoint: str, api_key: Optional[str], *, timeout: float = 5.0,
                 gzip: bool = True, gzip_min_bytes: int = 0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.gzip = gzip
        self.gzip_min_bytes = gzip_min_bytes
        self._session: Any = None
        self._lock = threading.Lock()

    def _get_session(self) -> Any:
        with self._lock:
            if self._session is None:
                import requests

                self._session = requests.Session()
            return self._session

    def _headers(self) -> Dict[str, str]:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if self.api_key:
            headers["x-api-key"] = self.api_key
        return headers

    def request(self, method: str, path: str, *, json: Any = None,
                params: Optional[Mapping[str, Any]] = None) -> Response:
        import requests

        headers = self._headers()
        data: Optional[bytes] = None
        if json is not None:
            data = json_mod.dumps(json, separators=(",", ":"), default=str).encode("utf-8")
            headers["Content-Type"] = "application/json"
            if self.gzip and len(data) >= self.gzip_min_bytes:
                data = gzip_mod.compress(data, compresslevel=6)
                headers["Content-Encoding"] = "gzip"
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            r = self._get_session().request(method, self.endpoint + path, data=data, params=clean,
                                            headers=headers, timeout=self.timeout)
            body = r.content
        except requests.RequestException as exc:
            raise NetworkError(f"{method} {path}: {exc.__class__.__name__}: {exc}") from exc
        return Response(r.status_code, {k.lower(): v for k, v in r.headers.items()}, body)

    def stream(self, path: str, *, headers: Optional[Mapping[str, str]] = None,
               read_timeout: float = 60.0) -> LineStream:
        import requests

        all_headers = self._headers()
        all_headers.update({"Accept": "text/event-stream", "Cache-Control": "no-cache"})
        all_headers.update(headers or {})
        try:
            r = self._get_session().get(self.endpoint + path, headers=all_headers, stream=True,
                                        timeout=(self.timeout, read_timeout))
        except requests.RequestException as exc:
            raise NetworkError(f"GET {path}: {exc}") from exc
        if r.status_code != 200:
            resp = Response(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content[:4096])
            r.close()
            if r.status_code == 429 or r.status_code >= 500:
                raise NetworkError(f"GET {path}: HTTP {r.status_code}")
            raise api_error(resp)
        return _RequestsLineStream(r)

    def close(self) -> None:
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            session.close()

    def reset_after_fork(self) -> None:
        # The parent's pooled sockets must not be shared; just forget them.
        self._lock = threading.Lock()
        self._session = None


def _socket_of(response: Any) -> Optional[socket.socket]:
    """The socket a streaming ``requests`` response reads from, or None.

    Usually the pooled connection still holds it. When the server answered with
    ``Connection: close`` (werkzeug, HTTP/1.0 proxies), http.client hands the
    socket over to the response and the connection's ``sock`` is None; the
    socket is then only reachable through the response's file object.
    """
    raw = getattr(response, "raw", None)
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if sock is not None:
        return sock
    fp = getattr(getattr(raw, "_fp", None), "fp", None)  # http.client.HTTPResponse -> BufferedReader
    return getattr(getattr(fp, "raw", None), "_sock", None)  # -> socket.SocketIO -> socket


class _RequestsLineStream(LineStream):
    def __init__(self, response: Any) -> None:
        self._r = response
        self._closed = False

    def __iter__(self) -> Iterator[str]:
        import http.client

        import requests
        import urllib3

        # Reading urllib3's raw response directly: its errors (ProtocolError for a stream cut off
        # mid-chunk, ReadTimeoutError) are not wrapped into requests' exceptions.
        broken = (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException,
                  OSError, ValueError, AttributeError)
        raw = self._r.raw
        read = getattr(raw, "read1", None)  # urllib3 >= 2: returns as soon as bytes arrive
        buf = b""
        try:
            while not self._closed:
                chunk = read(65536) if read is not None else raw.read(1)
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    yield line.rstrip(b"\r").decode("utf-8", "replace")
        except broken as exc:
            if not self._closed:
                raise NetworkError(f"stream interrupted: {exc}") from exc
        if buf and not self._closed:
            yield buf.rstrip(b"\r").decode("utf-8", "replace")

    def close(self) -> None:
        self._closed = True
        # Closing alone does not wake a thread blocked in recv(); shutting the socket down does.
        try:
            sock = _socket_of(self._r)
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            pass
        try:
            self._r.close()
        except Exception:  # noqa: BLE001 - closing a broken stream must not raise
            pass


@dataclass
class RecordedRequest:
    """One request seen by :class:`MemoryTransport`, with the answer it got."""

    method: str
    path: str
    json: Any = None
    params: Dict[str, Any] = field(default_factory=dict)
    headers: Dict[str, str] = field(default_factory=dict)
    response: Optional[Response] = None


Scripted = Union[Response, BaseException, int]
Handler = Callable[[RecordedRequest], Union[Response, BaseException]]


class MemoryTransport(Transport):
    """An in-memory transport for tests: records every request and answers from a script.

    Scripted answers (``enqueue``) are used first, in order: a :class:`Response`,
    an ``int`` status, or an exception to raise (e.g. ``NetworkError``). After
    that ``handler`` answers, and without a handler a built-in fake server answers
    like the real one (register, batch and an empty executions list).
    """

    def __init__(self, handler: Optional[Handler] = None) -> None:
        self.handler = handler
        self.requests: List[RecordedRequest] = []
        self._script: Deque[Scripted] = deque()
        self._streams: Deque[Union[List[str], BaseException]] = deque()
        self.stream_requests: List[RecordedRequest] = []
        self._cond = threading.Condition()
        self.closed = False

    def enqueue(self, *answers: Scripted) -> "MemoryTransport":
        with self._cond:
            self._script.extend(answers)
        return self

    def add_stream(self, lines: Union[List[str], BaseException]) -> "MemoryTransport":
        """Script the next ``stream()`` call: the lines it yields, or an exception it raises."""
        with self._cond:
            self._streams.append(lines)
        return self

    def request(self, method: str, path: str, *, json: Any = None,
                params: Optional[Mapping[str, Any]] = None) -> Response:
        req = RecordedRequest(method, path, json_mod.loads(json_mod.dumps(json, default=str)),
                              dict(params or {}))
        with self._cond:
            answer: Any = self._script.popleft() if self._script else None
        if answer is None:
            answer = self.handler(req) if self.handler else self._fake_server(req)
        if isinstance(answer, int):
            answer = Response.of(answer, {"error": {"code": "scripted", "message": f"status {answer}"}})
        with self._cond:
            if isinstance(answer, Response):
                req.response = answer
            self.requests.append(req)
            self._cond.notify_all()
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def stream(self, path: str, *, headers: Optional[Mapping[str, str]] = None,
               read_timeout: float = 60.0) -> LineStream:
        with self._cond:
            self.stream_requests.append(RecordedRequest("GET", path, headers=dict(headers or {})))
            self._cond.notify_all()
            item = self._streams.popleft() if self._streams else NetworkError("no stream scripted")
        if isinstance(item, BaseException):
            raise item
        return _ListLineStream(item)

    @staticmethod
    def _fake_server(req: RecordedRequest) -> Response:
        body = req.json or {}
        if req.path.endswith("/executions/batch"):
            return Response.of(200, {"accepted": len(body.get("executions", [])), "duplicates": 0})
        if req.path.endswith("/jobs/register"):
            jobs = body.get("jobs", [])
            return Response.of(200, {"registered": len(jobs), "jobs": jobs})
        if req.path == "/api/executions":
            return Response.of(200, {"items": [], "nextCursor": None})
        return Response.of(404, {"error": {"code": "not_found", "message": "no such path"}})

    @property
    def executions(self) -> List[dict]:
        """Every execution event the (fake) server accepted with a 2xx, in order."""
        with self._cond:
            return [e for r in self.requests if r.response is not None and r.response.ok
                    and r.path.endswith("/executions/batch") for e in r.json["executions"]]

    @property
    def jobs(self) -> List[dict]:
        """Every job definition the (fake) server accepted with a 2xx, in order."""
        with self._cond:
            return [j for r in self.requests if r.response is not None and r.response.ok
                    and r.path.endswith("/jobs/register") for j in r.json["jobs"]]

    def wait_for(self, predicate: Callable[["MemoryTransport"], bool], timeout: float = 10.0) -> bool:
        """Block until ``predicate(self)`` is true after some request, or ``timeout`` passes."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def close(self) -> None:
        self.closed = True


class _ListLineStream(LineStream):
    def __init__(self, lines: List[str]) -> None:
        self._lines = list(lines)
        self._closed = False

    def __iter__(self) -> Iterator[str]:
        for line in self._lines:
            if self._closed:
                return
            yield line

    def close(self) -> None:
        self._closed = True
