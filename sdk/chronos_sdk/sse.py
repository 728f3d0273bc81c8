"""A Server-Sent Events client that reconnects.

:class:`SSEParser` follows the WHATWG event-stream rules (``data``/``event``/
``id``/``retry`` fields, ``:`` comments, a blank line ends an event).
:class:`EventStream` keeps a stream open: after a disconnect it reconnects with
exponential backoff and jitter (or the server's ``retry:`` hint), sending the
last seen id as ``Last-Event-ID`` so the server can resume.
"""
from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator, List, Optional

from .exceptions import NetworkError
from .transport import LineStream, Transport
from .utils import backoff_delay, logger


@dataclass
class SSEEvent:
    """One dispatched event. ``event`` is ``"message"`` when the stream named none."""

    event: str = "message"
    data: str = ""
    id: Optional[str] = None

    def json(self) -> Any:
        """``data`` decoded as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.data)
        except ValueError:
            return None


class SSEParser:
    """Feed lines (without line endings); get an :class:`SSEEvent` at each blank line."""

    def __init__(self) -> None:
        self.last_event_id: Optional[str] = None
        self.retry_ms: Optional[int] = None
        self._data: List[str] = []
        self._event: Optional[str] = None

    def feed(self, line: str) -> Optional[SSEEvent]:
        if line == "":
            if not self._data:
                self._event = None
                return None
            event = SSEEvent(self._event or "message", "\n".join(self._data), self.last_event_id)
            self._data, self._event = [], None
            return event
        if line.startswith(":"):
            return None  # a comment, e.g. the ": ping" heartbeat
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None


class EventStream:
    """Iterate events from ``path`` forever, reconnecting, until :meth:`close`.

    Permanent refusals (APIError, e.g. a revoked key) end the iteration by
    raising; network errors and server errors only cause a reconnect.
    """

    def __init__(self, transport: Transport, path: str = "/api/stream", *,
                 last_event_id: Optional[str] = None, min_delay: float = 1.0, max_delay: float = 30.0,
                 read_timeout: float = 60.0, stop: Optional[threading.Event] = None,
                 sleep: Optional[Callable[[float], Any]] = None,
                 rng: Optional[random.Random] = None) -> None:
        self.transport = transport
        self.path = path
        self.last_event_id = last_event_id
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.read_timeout = read_timeout
        self.stop = stop or threading.Event()
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.connects = 0
        self._current: Optional[LineStream] = None
        self._lock = threading.Lock()

    def close(self) -> None:
        """Stop iterating; safe to call from another thread."""
        self.stop.set()
        with self._lock:
            current = self._current
        if current is not None:
            current.close()

    def _wait(self, seconds: float) -> None:
        if self.sleep is not None:
            self.sleep(seconds)
        else:
            self.stop.wait(seconds)

    def __iter__(self) -> Iterator[SSEEvent]:
        failures = 0
        while not self.stop.is_set():
            parser = SSEParser()
            parser.last_event_id = self.last_event_id
            headers = {"Last-Event-ID": self.last_event_id} if self.last_event_id else {}
            try:
                stream = self.transport.stream(self.path, headers=headers, read_timeout=self.read_timeout)
            except NetworkError as exc:
                failures += 1
                delay = backoff_delay(failures, self.min_delay, self.max_delay, self.rng)
                logger.debug("event stream: connect failed (%s); retrying in %.1fs", exc, delay)
                self._wait(delay)
                continue
            self.connects += 1
            with self._lock:
                self._current = stream
            if self.stop.is_set():
                stream.close()
            try:
                for line in stream:
                    failures = 0  # the connection works; a later drop starts backoff afresh
                    event = parser.feed(line)
                    self.last_event_id = parser.last_event_id
                    if event is not None:
                        yield event
                    if self.stop.is_set():
                        break
            except NetworkError as exc:
                logger.debug("event stream dropped: %s", exc)
            finally:
                with self._lock:
                    self._current = None
                stream.close()
            if self.stop.is_set():
                break
            failures += 1
            delay = (parser.retry_ms / 1000.0 if parser.retry_ms is not None
                     else backoff_delay(failures, self.min_delay, self.max_delay, self.rng))
            self._wait(delay)
