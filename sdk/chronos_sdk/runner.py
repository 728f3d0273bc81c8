"""``ChronosRunner``: run registered jobs when triggered, report every run.

Triggers come from the server (``trigger_mode="server"``: ``job:trigger`` events
on the SSE stream) or from cron in this process (``trigger_mode="local"``).
Each attempt of a run is one execution with its own ``execId`` and ``attempt``;
a run triggered by the server carries the trigger's ``triggerId``.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
import signal
import sys
import threading
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, List, Optional

from .capture import cpu_time, snippet_for_frames
from .client import ChronosClient
from .exceptions import APIError, JobTimeoutError, TransportError
from .run import JobSpec, Run
from .schedule import next_fire, validate_cron
from .sse import EventStream
from .utils import capture_internal_exceptions, logger, parse_time

TRIGGER_EVENT = "job:trigger"
ONCE_GRACE = timedelta(seconds=60)  # a local "once" job whose run_at passed longer ago is skipped


@dataclass
class JobDefinition:
    """A registered job: its wire definition plus how to run it."""

    spec: JobSpec
    fn: Callable[[], Any]
    timeout: Optional[float] = None
    retries: int = 0
    next_fire: Optional[datetime] = None


@dataclass
class RunResult:
    """The outcome of a run: the last attempt's status, value and error."""

    job_id: str
    status: str = "skipped"
    attempts: int = 0
    exec_ids: List[str] = field(default_factory=list)
    value: Any = None
    error: Optional[BaseException] = None

    @property
    def ok(self) -> bool:
        return self.status == "success"


class ChronosRunner:
    """Register jobs, then :meth:`start` (blocking) or :meth:`start_background`.

    ``client`` defaults to a new :class:`ChronosClient` made from ``client_options``
    (and closed by :meth:`stop`). ``clock`` (aware UTC now) and ``sleep`` can be
    injected so tests never wait for real time.
    """

    def __init__(self, client: Optional[ChronosClient] = None, *, trigger_mode: str = "server",
                 max_workers: int = 4, retry_delay: float = 1.0, stream_path: str = "/api/stream",
                 clock: Optional[Callable[[], datetime]] = None,
                 sleep: Optional[Callable[[float], Any]] = None, **client_options: Any) -> None:
        if trigger_mode not in ("server", "local"):
            raise ValueError("trigger_mode must be 'server' or 'local'")
        if client is not None and client_options:
            raise TypeError("pass either client= or client options, not both")
        self._owns_client = client is None
        self.client = client if client is not None else ChronosClient(**client_options)
        self.trigger_mode = trigger_mode
        self.max_workers = max_workers
        self.retry_delay = retry_delay
        self.stream_path = stream_path
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.sleep = sleep
        self.jobs: Dict[str, JobDefinition] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._active: Dict[str, int] = {}
        self._futures: "set[concurrent.futures.Future[RunResult]]" = set()
        self._seen: "OrderedDict[str, None]" = OrderedDict()
        self._executor: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self._stream: Optional[EventStream] = None
        self._thread: Optional[threading.Thread] = None
        self.started = threading.Event()

    # -- registration ---------------------------------------------------------------------
    def register(self, job_id: str, fn: Callable[[], Any], *, name: Optional[str] = None,
                 schedule: Optional[str] = None, run_mode: str = "recurring",
                 run_at: Any = None, timezone: Optional[str] = None, timeout: Optional[float] = None,
                 retries: int = 0, version: Optional[str] = None, tags: Optional[List[str]] = None,
                 description: Optional[str] = None, grace_seconds: Optional[int] = None) -> JobDefinition:
        """Add a job. ``fn`` takes no arguments and may be ``async``.

        Raises ValueError for a bad cron expression, timezone or run mode.
        """
        if schedule:
            schedule = validate_cron(schedule)
        if timezone:
            from .schedule import get_zone

            get_zone(timezone)
        if retries < 0 or (timeout is not None and timeout <= 0):
            raise ValueError("retries must be >= 0 and timeout > 0")
        spec = JobSpec(job_id, name=name, schedule=schedule, run_mode=run_mode,
                       run_at=parse_time(run_at) if run_at is not None else None, timezone=timezone,
                       version=version, tags=tags, description=description, grace_seconds=grace_seconds,
                       max_runtime_seconds=timeout)
        definition = JobDefinition(spec, fn, timeout, retries)
        self.jobs[job_id] = definition
        return definition

    def job(self, job_id: Optional[str] = None,
            **kwargs: Any) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
        """Decorator form of :meth:`register`; the job id defaults to the function's name."""
        def decorate(fn: Callable[[], Any]) -> Callable[[], Any]:
            self.register(job_id or fn.__name__, fn, **kwargs)
            return fn

        return decorate

    # -- running ----------------------------------------------------------------------------
    def run_now(self, job_id: str, *, trigger_id: Optional[str] = None) -> RunResult:
        """Run a registered job in this thread now, with its timeout and retries.

        Raises KeyError for an unknown job id; the job's own exception is in the result.
        """
        if job_id not in self.jobs:
            raise KeyError(f"unknown job {job_id!r}")
        return self._execute(self.jobs[job_id], trigger_id)

    def _execute(self, job: JobDefinition, trigger_id: Optional[str]) -> RunResult:
        result = RunResult(job.spec.id)
        for attempt in range(1, job.retries + 2):
            run = Run(self.client, job.spec.id, attempt=attempt, trigger_id=trigger_id,
                      job_version=job.spec.version).start()
            exc, value, cpu_ms, extra = self._call(job, run)
            run.finish(exc, cpu_time_ms=cpu_ms, extra=extra)
            result.attempts, result.status = attempt, run.status or "failed"
            result.exec_ids.append(run.exec_id)
            result.value, result.error = value, exc
            if exc is not None and not isinstance(exc, Exception):
                raise exc  # KeyboardInterrupt / SystemExit: recorded, now let it through
            if result.status in ("success", "cancelled") or attempt > job.retries:
                break
            if self._wait(min(60.0, self.retry_delay * 2 ** (attempt - 1))):
                break  # stopping: no more retries
        return result

    def _call(self, job: JobDefinition, run: Run) -> tuple:
        """(error, value, cpu ms, extra event fields) of one attempt."""
        if job.timeout is None:
            c0 = cpu_time()
            try:
                return None, _invoke(job.fn), _ms(cpu_time() - c0), None
            except BaseException as exc:  # noqa: BLE001 - recorded, then re-raised by the caller
                return exc, None, _ms(cpu_time() - c0), None
        box: Dict[str, Any] = {}
        ctx = contextvars.copy_context()  # carries the run's output capture into the thread

        def target() -> None:
            c0 = cpu_time()
            try:
                box["value"] = ctx.run(_invoke, job.fn)
            except BaseException as exc:  # noqa: BLE001
                box["error"] = exc
            box["cpu"] = _ms(cpu_time() - c0)

        thread = threading.Thread(target=target, name=f"chronos-job-{job.spec.id}", daemon=True)
        thread.start()
        thread.join(job.timeout)
        if thread.is_alive():
            # Python cannot kill a thread: stop waiting, report where it is stuck, let it run out.
            return JobTimeoutError(job.spec.id, job.timeout), None, None, _stuck_at(thread)
        return box.get("error"), box.get("value"), box.get("cpu"), None

    def _dispatch(self, job: JobDefinition, trigger_id: Optional[str]) -> bool:
        with self._lock:
            if self._active.get(job.spec.id, 0) > 0:
                logger.debug("job %s is still running; skipping this trigger", job.spec.id)
                return False
            if self._executor is None:
                return False
            self._active[job.spec.id] = self._active.get(job.spec.id, 0) + 1
            future = self._executor.submit(self._execute, job, trigger_id)
            self._futures.add(future)

        def done(f: "concurrent.futures.Future[RunResult]") -> None:
            with self._lock:
                self._active[job.spec.id] -= 1
                self._futures.discard(f)

        future.add_done_callback(done)
        return True

    def _wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when the runner is stopping."""
        if self.sleep is not None:
            self.sleep(seconds)
        else:
            self._stop.wait(seconds)
        return self._stop.is_set()

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Register the jobs with the server and run triggers until :meth:`stop` (blocking).

        A stopped runner stays stopped; make a new one to start again.

        Raises APIError when the server refuses the jobs or the stream (e.g. a bad key).
        """
        restore = self._install_signals()
        try:
            self._prepare()
            self.started.set()
            if self.trigger_mode == "local":
                self._local_loop()
            else:
                self._server_loop()
        except KeyboardInterrupt:
            pass
        finally:
            restore()
            self._shutdown()

    def start_background(self) -> threading.Thread:
        """Run :meth:`start` on a daemon thread and return it."""
        self._thread = threading.Thread(target=self.start, name="chronos-runner", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: Optional[float] = 10.0) -> None:
        """Stop triggering, wait up to ``timeout`` s for running jobs, flush telemetry."""
        self._stop.set()
        if self._stream is not None:
            self._stream.close()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _prepare(self) -> None:
        with self._lock:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=self.max_workers, thread_name_prefix="chronos-job")
        specs = [job.spec for job in self.jobs.values()]
        if not specs or not self.client.options.enabled:
            return
        try:
            self.client.register_jobs(specs, max_retries=1)
        except APIError:
            raise
        except TransportError as exc:
            logger.warning("could not register jobs now (%s); they are queued for later", exc)
            for spec in specs:
                self.client.register_job(spec)

    def _shutdown(self, timeout: float = 10.0) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
            futures = set(self._futures)
        if futures:
            concurrent.futures.wait(futures, timeout=timeout)
        if executor is not None:
            executor.shutdown(wait=False)
        with capture_internal_exceptions():
            if self._owns_client:
                self.client.close()
            else:
                self.client.flush()

    def _install_signals(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, lambda *_: self.stop(timeout=0))

        def restore() -> None:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)

        return restore

    # -- trigger sources -----------------------------------------------------------------------
    def _local_loop(self) -> None:
        now = self.clock()
        for job in self.jobs.values():
            job.next_fire = self._first_fire(job, now)
        while not self._stop.is_set():
            now = self.clock()
            for job in list(self.jobs.values()):
                if job.next_fire is not None and job.next_fire <= now:
                    # Advance before dispatching; fires missed while busy are coalesced into this one.
                    job.next_fire = (next_fire(job.spec.schedule, now, job.spec.timezone)
                                     if job.spec.run_mode == "recurring" and job.spec.schedule else None)
                    self._dispatch(job, None)
            pending = [j.next_fire for j in self.jobs.values() if j.next_fire is not None]
            delay = min((t - now).total_seconds() for t in pending) if pending else 1.0
            self._wait(max(0.0, min(delay, 1.0)))

    def _first_fire(self, job: JobDefinition, now: datetime) -> Optional[datetime]:
        spec = job.spec
        if spec.run_mode == "once" and isinstance(spec.run_at, datetime):
            if spec.run_at < now - ONCE_GRACE:
                logger.debug("once job %s: run_at %s has passed; not running it", spec.id, spec.run_at)
                return None
            return spec.run_at
        if spec.schedule:
            return next_fire(spec.schedule, now, spec.timezone)
        return None

    def _server_loop(self) -> None:
        self._stream = EventStream(self.client.transport, self.stream_path, stop=self._stop,
                                   sleep=self.sleep)
        for event in self._stream:
            if event.event != TRIGGER_EVENT:
                continue
            with capture_internal_exceptions():
                self._on_trigger(event.json())

    def _on_trigger(self, data: Any) -> None:
        if not isinstance(data, dict):
            return
        job = self.jobs.get(str(data.get("jobId")))
        if job is None:
            return
        trigger_id = data.get("triggerId")
        if trigger_id:
            trigger_id = str(trigger_id)
            if trigger_id in self._seen:
                return  # replayed after a reconnect: already ran
            self._seen[trigger_id] = None
            while len(self._seen) > 1000:
                self._seen.popitem(last=False)
        self._dispatch(job, trigger_id)


def _invoke(fn: Callable[[], Any]) -> Any:
    if inspect.iscoroutinefunction(fn):
        return _run_coroutine(fn())
    value = fn()
    if inspect.iscoroutine(value):
        return _run_coroutine(value)
    return value


def _run_coroutine(coro: Any) -> Any:
    """Run ``coro`` to completion on a new event loop and return its result.

    ``asyncio.run`` refuses to start where an event loop is already running in this thread
    (a notebook, an async app calling ``run_now``). There the coroutine runs on its own loop
    in a helper thread, with this context (so the run still captures its output), and this
    thread waits for it, as it would for a sync job.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: Dict[str, Any] = {}
    ctx = contextvars.copy_context()

    def target() -> None:
        try:
            box["value"] = ctx.run(asyncio.run, coro)
        except BaseException as exc:  # noqa: BLE001 - handed back to the calling thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="chronos-async-job", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def _stuck_at(thread: threading.Thread) -> Optional[Dict[str, Any]]:
    frame = sys._current_frames().get(thread.ident or -1)
    if frame is None:
        return None
    frames = list(traceback.walk_stack(frame))[::-1]
    extra: Dict[str, Any] = {"errorStack": "Job still running when it timed out; its stack:\n"
                             + "".join(traceback.format_stack(frame))}
    found = snippet_for_frames(frames)
    if found is not None:
        extra.update(codeSnippet=found[0], codeLanguage="python")
    return extra
