"""The client: queues telemetry, delivers it in batches, spools what cannot be delivered.

Delivery order: records the spool still holds are replayed before newer ones are
sent, so a ``running`` event that had to be spooled never arrives after the
final event of the same run. While the server is known to be away, new batches
go straight to the spool and the worker probes it again with growing pauses
(5 s doubling to 60 s).
"""
from __future__ import annotations

import atexit
import enum
import hashlib
import itertools
import json
import sys
import threading
import time
import weakref
from dataclasses import fields
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Optional, Union

from .exceptions import APIError, ClientClosedError, TransportError
from .options import ClientOptions, resolve_options
from .retry import Retrier, RetryPolicy
from .run import JobSpec
from .spool import Spool
from .transport import RequestsTransport, Transport
from .utils import TimeLike, capture_internal_exceptions, logger, set_debug
from .worker import BackgroundWorker, on_fork_in_child

if TYPE_CHECKING:
    from .monitor import monitor as Monitor

EXECUTIONS_PATH = "/api/ingest/executions/batch"
REGISTER_PATH = "/api/ingest/jobs/register"
PROBE_MIN, PROBE_MAX = 5.0, 60.0
_JOBSPEC_FIELDS = frozenset(f.name for f in fields(JobSpec))


class ClientState(enum.Enum):
    """``OPEN`` accepts events; ``CLOSING`` is flushing; ``CLOSED`` sends nothing more."""

    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class ChronosClient:
    """Sends job definitions and execution events to a Chronos server in the background.

    Takes the same keyword-only options as :func:`chronos_sdk.init`. Calls that
    record telemetry never block and never raise; see :meth:`stats` for what
    happened to each event.
    """

    def __init__(self, api_key: Optional[str] = None, **options: Any) -> None:
        self.options: ClientOptions = resolve_options(api_key, **options)
        if self.options.debug:
            set_debug(True)
        self.state = ClientState.OPEN
        self._state_lock = threading.Lock()
        opts = self.options
        self.transport: Transport = opts.transport or RequestsTransport(
            opts.endpoint, opts.api_key, timeout=opts.timeout, gzip=opts.gzip)
        self.retrier = Retrier(RetryPolicy(max_retries=opts.max_retries))
        self.read_retrier = Retrier(RetryPolicy(max_retries=opts.max_retries))
        spool_path = opts.spool_path()
        self.spool: Optional[Spool] = Spool(spool_path) if spool_path is not None else None
        self._counts: Dict[str, int] = {}
        self._counts_lock = threading.Lock()
        self._known_jobs: Dict[str, str] = {}
        self._offline_until = 0.0
        self._probe_delay = PROBE_MIN
        self._warned: set = set()
        self.clock: Callable[[], float] = time.monotonic
        self.worker = BackgroundWorker(
            self._deliver, queue_size=opts.queue_size, batch_size=opts.batch_size,
            flush_interval=opts.flush_interval, on_idle=self._on_idle, on_fork=self._after_fork,
            on_pressure=self.retrier.cut_short_now)
        self._spool_dirty = bool(self.spool and self.options.enabled and self.spool.has_pending())
        _track(self)
        if self._spool_dirty:
            self.worker.start()  # replay what an earlier process left behind

    # -- recording ------------------------------------------------------------------
    def capture_event(self, event: Dict[str, Any]) -> bool:
        """Queue one execution event; False when it was not queued (closed, disabled or full)."""
        if self.state is not ClientState.OPEN:
            return False
        if not self.options.enabled:
            self._count("discarded")
            return False
        if self.options.app_id and "appId" not in event:
            event = dict(event, appId=self.options.app_id)
        return self.worker.submit({"kind": "execution", "data": event})

    def register_job(self, spec: Union[JobSpec, Dict[str, Any]]) -> bool:
        """Queue a job definition unless this client already sent the same one."""
        body = self._job_body(spec)
        if self._known_jobs.get(body["id"]) == body["signatureHash"]:
            return True
        if self.state is not ClientState.OPEN or not self.options.enabled:
            return False
        self._known_jobs[body["id"]] = body["signatureHash"]
        return self.worker.submit({"kind": "job", "data": body})

    def register_jobs(self, specs: Iterable[Union[JobSpec, Dict[str, Any]]], *,
                      max_retries: Optional[int] = None) -> Dict[str, Any]:
        """Register job definitions now and return the server's answer ``{"registered", "jobs"}``.

        Raises APIError for a refusal and TransportError when the server cannot be reached.
        """
        if self.state is ClientState.CLOSED:
            raise ClientClosedError("the client is closed")
        bodies = [self._job_body(s) for s in specs]
        resp = self.read_retrier.call(self.transport, "POST", REGISTER_PATH, json={"jobs": bodies},
                                      max_retries=max_retries)
        for body in bodies:
            self._known_jobs[body["id"]] = body["signatureHash"]
        self._count("jobs_registered", len(bodies))
        return resp.json() or {}

    def _job_body(self, spec: Union[JobSpec, Dict[str, Any]]) -> Dict[str, Any]:
        if isinstance(spec, dict) and set(spec) <= _JOBSPEC_FIELDS:
            spec = JobSpec(**spec)  # snake_case keyword form; anything else is the wire form
        body = spec.to_dict() if isinstance(spec, JobSpec) else dict(spec)
        body.setdefault("name", body["id"])
        body.setdefault("schedule", "")
        body.setdefault("runMode", "recurring")
        if self.options.app_id:
            body.setdefault("appId", self.options.app_id)
        if "signatureHash" not in body:
            canon = json.dumps(body, sort_keys=True, default=str).encode()
            body["signatureHash"] = hashlib.sha256(canon).hexdigest()[:16]
        return body

    def monitor(self, job_id: str, **kwargs: Any) -> "Monitor":
        """``chronos_sdk.monitor`` bound to this client."""
        from .monitor import monitor

        return monitor(job_id, client=self, **kwargs)

    # -- delivery (worker thread) ---------------------------------------------------------
    def _deliver(self, records: List[Dict[str, Any]]) -> None:
        with capture_internal_exceptions():
            if not records:
                return
            if self.spool is not None and self.clock() < self._offline_until:
                self._to_spool(records)  # the server is away; do not wait a retry window per batch
                return
            if self._spool_dirty and not self._replay():
                self._to_spool(records)
                return
            try:
                self._send(records)
                self._online()
            except TransportError as exc:
                logger.debug("delivery failed, spooling %d record(s): %s", len(records), exc)
                self._to_spool(records)
                self._offline()

    def _on_idle(self) -> None:
        with capture_internal_exceptions():
            if self._spool_dirty and self.clock() >= self._offline_until:
                self._replay(max_retries=0)

    def _replay(self, max_retries: Optional[int] = None) -> bool:
        """Send the spool's records; True when nothing of ours is left to send."""
        assert self.spool is not None
        try:
            n = self.spool.replay(lambda recs: self._send(recs, max_retries), self.options.batch_size)
        except TransportError as exc:
            logger.debug("spool replay stopped: %s", exc)
            self._offline()
            return False
        self._count("replayed", n)
        self._spool_dirty = self.spool.has_pending()
        self._online()
        return True

    def _send(self, records: List[Dict[str, Any]], max_retries: Optional[int] = None) -> None:
        for kind, group in itertools.groupby(records, key=lambda r: r.get("kind")):
            items = [r["data"] for r in group]
            for i in range(0, len(items), self.options.batch_size):
                self._post(kind, items[i:i + self.options.batch_size], max_retries)

    def _post(self, kind: Optional[str], items: List[Dict[str, Any]], max_retries: Optional[int]) -> None:
        path, key = (REGISTER_PATH, "jobs") if kind == "job" else (EXECUTIONS_PATH, "executions")
        try:
            resp = self.retrier.call(self.transport, "POST", path, json={key: items}, max_retries=max_retries)
        except APIError as err:
            if err.status in (400, 413) and len(items) > 1:
                # Split so that one bad event (or one huge one) does not cost the others.
                mid = len(items) // 2
                self._post(kind, items[:mid], max_retries)
                self._post(kind, items[mid:], max_retries)
                return
            self._count("rejected", len(items))
            if err.status not in self._warned:
                self._warned.add(err.status)
                logger.warning("Chronos server refused %d %s record(s): %s", len(items), kind, err)
            return
        data = resp.json() or {}
        if kind == "job":
            self._count("jobs_registered", len(items))
            return
        self._count("sent", len(items))
        self._count("accepted", int(data.get("accepted", len(items)) or 0))
        self._count("duplicates", int(data.get("duplicates", 0) or 0))

    def _to_spool(self, records: List[Dict[str, Any]]) -> None:
        if self.spool is None:
            self._count("lost", len(records))
            return
        try:
            written = self.spool.append(records)
        except OSError as exc:
            logger.debug("spool write failed: %s", exc)
            written = 0
        self._count("spooled", written)
        self._count("lost", len(records) - written)
        if written:
            self._spool_dirty = True

    def _offline(self) -> None:
        self._offline_until = self.clock() + self._probe_delay
        self._probe_delay = min(self._probe_delay * 2, PROBE_MAX)

    def _online(self) -> None:
        self._offline_until = 0.0
        self._probe_delay = PROBE_MIN

    def _after_fork(self) -> None:
        self.transport.reset_after_fork()
        self.retrier.reset_after_fork()
        self.read_retrier.reset_after_fork()
        if self.spool is not None:
            self.spool.reset_after_fork()
        self._counts_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._counts = {}

    # -- lifecycle ------------------------------------------------------------------------
    def flush(self, timeout: Optional[float] = None,
              callback: Optional[Callable[[int, float], None]] = None) -> bool:
        """Wait until every event recorded so far was delivered or spooled.

        Waits at most ``timeout`` seconds (default: ``shutdown_timeout``); True when done.
        ``callback(pending, timeout)`` is called first when events are pending.
        """
        if self.state is ClientState.CLOSED or not self.options.enabled:
            return True
        timeout = self.options.shutdown_timeout if timeout is None else timeout
        pending = self.worker.pending()
        if callback is not None and pending:
            with capture_internal_exceptions():
                callback(pending, timeout)
        return self.worker.flush(timeout)

    def close(self, timeout: Optional[float] = None) -> None:
        """Flush (at most ``timeout`` s, default ``shutdown_timeout``), spool the rest, stop. Idempotent."""
        with self._state_lock:
            if self.state is not ClientState.OPEN:
                return
            self.state = ClientState.CLOSING
        with capture_internal_exceptions():
            self._shutdown(self.options.shutdown_timeout if timeout is None else timeout)
        self.state = ClientState.CLOSED
        _untrack(self)

    def _shutdown(self, timeout: float) -> None:
        if self.options.enabled:
            done = self.worker.flush(timeout)
            pending = 0 if done else self.worker.pending()
            if not done:
                self.retrier.abort()  # wake a worker waiting to retry; it spools its batch
            left = self.worker.stop(timeout=1.0 if done else 0.5)
            if left:
                self._to_spool(left)  # the worker is stuck in a request: spool its batch from here
            if pending:
                where = (f"written to the spool in {self.spool.path}" if self.spool
                         else "lost (spool disabled)")
                print(f"chronos_sdk: {pending} event(s) not delivered within {timeout:g}s at shutdown "
                      f"were {where}", file=sys.__stderr__ or sys.stderr)
        self.retrier.abort()
        if self.spool is not None:
            self.spool.close()
        self.transport.close()

    def __enter__(self) -> "ChronosClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- introspection and data access --------------------------------------------------
    def _count(self, key: str, n: int = 1) -> None:
        if n:
            with self._counts_lock:
                self._counts[key] = self._counts.get(key, 0) + n

    def stats(self) -> Dict[str, Any]:
        """Counters: submitted, dropped (queue full), sent, accepted, duplicates, rejected
        (permanent errors), spooled, replayed, lost, discarded (no API key), retries, queued."""
        with self._counts_lock:
            out: Dict[str, Any] = {k: 0 for k in ("sent", "accepted", "duplicates", "rejected", "spooled",
                                                 "replayed", "lost", "discarded", "jobs_registered")}
            out.update(self._counts)
        out.update(state=self.state.value, submitted=self.worker.submitted, dropped=self.worker.dropped,
                   queued=self.worker.pending(), retries=self.retrier.retries)
        return out

    def executions(self, job_id: Optional[str] = None, since: TimeLike = None, until: TimeLike = None,
                   status: Optional[str] = None, page_size: int = 200) -> Iterator[Dict[str, Any]]:
        """Executions from ``GET /api/executions``, newest first as the server orders them,
        following ``nextCursor`` page by page."""
        from .data import iter_executions

        return iter_executions(self.transport, self.read_retrier, job_id=job_id, since=since,
                               until=until, status=status, page_size=page_size)

    def executions_frame(self, job_id: Optional[str] = None, since: TimeLike = None,
                         until: TimeLike = None, status: Optional[str] = None,
                         page_size: int = 200) -> Any:
        """The same executions as a pandas DataFrame (needs the ``pandas`` extra)."""
        from .data import to_frame

        return to_frame(self.executions(job_id, since, until, status, page_size))


# -- the process-wide client and the exit hook ---------------------------------------------
_live: "weakref.WeakSet[ChronosClient]" = weakref.WeakSet()
_live_lock = threading.Lock()
_atexit_installed = False
_current: Optional[ChronosClient] = None


def _renew_lock_after_fork() -> None:
    global _live_lock
    _live_lock = threading.Lock()


def _track(client: ChronosClient) -> None:
    global _atexit_installed
    on_fork_in_child(_renew_lock_after_fork)
    with _live_lock:
        _live.add(client)
        if not _atexit_installed:
            atexit.register(_close_all_at_exit)
            _atexit_installed = True


def _untrack(client: ChronosClient) -> None:
    with _live_lock:
        _live.discard(client)


def _close_all_at_exit() -> None:
    with _live_lock:
        clients = list(_live)
    for client in clients:
        with capture_internal_exceptions():
            client.close()


def get_client() -> Optional[ChronosClient]:
    """The client made by :func:`chronos_sdk.init`, or None."""
    return _current


def set_client(client: Optional[ChronosClient]) -> Optional[ChronosClient]:
    """Make ``client`` the process-wide client; returns the previous one."""
    global _current
    with _live_lock:
        previous, _current = _current, client
    return previous
