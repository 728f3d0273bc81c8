"""What goes on the wire: job definitions (:class:`JobSpec`) and executions (:class:`Run`).

A :class:`Run` sends a ``running`` event when it starts and a final event with
the same ``execId`` when it finishes; the server joins the two into one execution.
"""
from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import math
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple, Union

from .capture import OutputCapture, code_snippet, cpu_time, describe_exception, peak_memory_kb, tail_text
from .exceptions import JobTimeoutError
from .utils import capture_internal_exceptions, iso, utcnow

if TYPE_CHECKING:
    from .client import ChronosClient

Labels = Union[List[str], Mapping[str, str], None]
STATUSES = ("running", "success", "failed", "timeout", "cancelled")

_current: "contextvars.ContextVar[Tuple[Run, ...]]" = contextvars.ContextVar("chronos_sdk_runs", default=())
_HOST: Optional[str] = None


def _host() -> str:
    global _HOST
    if _HOST is None:
        try:
            _HOST = socket.gethostname()
        except OSError:
            _HOST = "unknown"
    return _HOST


def current_run() -> "Optional[Run]":
    """The innermost run active in this thread or task, or None (add labels or metadata to it)."""
    runs = _current.get()
    return runs[-1] if runs else None


@dataclass
class JobSpec:
    """A job definition as registered with ``POST /api/ingest/jobs/register``."""

    id: str
    name: Optional[str] = None
    schedule: Optional[str] = None
    run_mode: str = "recurring"
    version: Optional[str] = None
    app_id: Optional[str] = None
    run_at: Union[datetime, str, None] = None
    timezone: Optional[str] = None
    grace_seconds: Optional[int] = None
    tags: Optional[List[str]] = None
    description: Optional[str] = None
    max_runtime_seconds: Optional[float] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.run_mode not in ("once", "recurring"):
            raise ValueError("run_mode must be 'once' or 'recurring'")

    def to_dict(self) -> Dict[str, Any]:
        """The wire form: camelCase keys, None values left out, a ``signatureHash`` of the definition."""
        run_at = iso(self.run_at) if isinstance(self.run_at, datetime) else self.run_at
        body: Dict[str, Any] = {
            "id": self.id, "name": self.name or self.id, "schedule": self.schedule or "",
            "runMode": self.run_mode, "version": self.version, "appId": self.app_id, "runAt": run_at,
            "timezone": self.timezone, "graceSeconds": self.grace_seconds,
            "tags": list(self.tags) if self.tags else None, "description": self.description,
            "maxRuntimeSeconds": _whole_seconds(self.max_runtime_seconds),
        }
        body.update(self.extra)
        body = {k: v for k, v in body.items() if v is not None}
        canon = json.dumps({k: v for k, v in body.items() if k != "appId"}, sort_keys=True, default=str)
        body["signatureHash"] = hashlib.sha256(canon.encode()).hexdigest()[:16]
        return body


def _whole_seconds(value: Optional[float]) -> Optional[int]:
    """The server takes ``maxRuntimeSeconds`` as a whole number >= 1: round a float timeout up."""
    if value is None:
        return None
    return max(1, int(math.ceil(value)))


def status_for(exc: Optional[BaseException]) -> Tuple[str, Optional[int]]:
    """The execution status (and exit code, for SystemExit) that an exception means."""
    if exc is None:
        return "success", None
    if isinstance(exc, JobTimeoutError):
        return "timeout", None
    if isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError)):
        return "cancelled", None
    if isinstance(exc, SystemExit):
        code = exc.code
        if code is None or code == 0:
            return "success", 0
        return "failed", code if isinstance(code, int) else 1
    return "failed", None


class Run:
    """One execution of a job. Create, :meth:`start`, then :meth:`finish` exactly once.

    Labels and metadata may be changed while the run is active
    (``chronos_sdk.current_run().metadata["rows"] = 10``). Without a client
    nothing is sent and nothing is captured.
    """

    def __init__(self, client: "Optional[ChronosClient]", job_id: str, *, attempt: int = 1,
                 trigger_id: Optional[str] = None, labels: Labels = None,
                 metadata: Optional[Mapping[str, Any]] = None, job_version: Optional[str] = None,
                 app_version: Optional[str] = None, capture_output: bool = True,
                 max_log_bytes: Optional[int] = None) -> None:
        self.client = client
        self.job_id = job_id
        self.exec_id = str(uuid.uuid4())
        self.attempt = attempt
        self.trigger_id = trigger_id
        self.labels: Any = dict(labels) if isinstance(labels, Mapping) else list(labels or [])
        self.metadata: Dict[str, Any] = dict(metadata or {})
        self.job_version = job_version
        self.app_version = app_version or (client.options.app_version if client else None)
        self.max_log_bytes = max_log_bytes or (client.options.max_log_bytes if client else 65536)
        self.capture = OutputCapture(self.max_log_bytes) if (capture_output and client) else None
        self.started_at: Optional[datetime] = None
        self.finished_at: Optional[datetime] = None
        self.status: Optional[str] = None
        self.event: Optional[Dict[str, Any]] = None
        self._t0 = 0.0
        self._cpu0 = 0.0
        self._token: Optional[contextvars.Token] = None

    def _base(self, status: str) -> Dict[str, Any]:
        event: Dict[str, Any] = {
            "execId": self.exec_id, "jobId": self.job_id, "status": status,
            "startedAt": iso(self.started_at) if self.started_at else None,
            "attempt": self.attempt, "triggerId": self.trigger_id,
            "labels": self.labels or None, "metadata": self.metadata or None,
            "jobVersion": self.job_version, "appVersion": self.app_version,
            "host": _host(), "pid": os.getpid(),
        }
        return event

    def start(self) -> "Run":
        """Mark the start, begin capturing output and send the ``running`` event."""
        self.started_at = utcnow()
        self._t0 = time.perf_counter()
        self._cpu0 = cpu_time()
        self._token = _current.set(_current.get() + (self,))
        with capture_internal_exceptions():
            if self.capture is not None:
                self.capture.__enter__()
        with capture_internal_exceptions():
            if self.client is not None:
                running = {k: v for k, v in self._base("running").items() if v is not None}
                self.client.capture_event(running)
        return self

    def finish(self, exc: Optional[BaseException] = None, *, status: Optional[str] = None,
               exit_code: Optional[int] = None, error_message: Optional[str] = None,
               stdout: Optional[str] = None, stderr: Optional[str] = None,
               cpu_time_ms: Optional[int] = None, peak_memory: Optional[int] = None,
               extra: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
        """Stop capturing and send the final event; returns it. Never raises.

        ``extra`` fields override what was derived (e.g. ``errorStack`` of a hung job).
        """
        event: Dict[str, Any] = {}
        with capture_internal_exceptions():
            event = self._finish(exc, status, exit_code, error_message, stdout, stderr,
                                 cpu_time_ms, peak_memory, extra or {})
        return event

    def _finish(self, exc: Optional[BaseException], status: Optional[str], exit_code: Optional[int],
                error_message: Optional[str], stdout: Optional[str], stderr: Optional[str],
                cpu_ms: Optional[int], peak: Optional[int], extra: Mapping[str, Any]) -> Dict[str, Any]:
        duration_ms = int(round((time.perf_counter() - self._t0) * 1000))
        cpu = cpu_ms if cpu_ms is not None else int(round((cpu_time() - self._cpu0) * 1000))
        self.finished_at = utcnow()
        if self.capture is not None:
            self.capture.__exit__(None, None, None)
            stdout = self.capture.stdout.getvalue() if stdout is None else stdout
            stderr = self.capture.stderr.getvalue() if stderr is None else stderr
        self._pop()
        derived, code = status_for(exc)
        self.status = status or derived
        limit = self.max_log_bytes
        event = self._base(self.status)
        event.update({
            "finishedAt": iso(self.finished_at), "durationMs": duration_ms,
            "exitCode": exit_code if exit_code is not None else code,
            "stdout": tail_text(stdout, limit) or None, "stderr": tail_text(stderr, limit) or None,
            "cpuTimeMs": cpu, "peakMemoryKb": peak if peak is not None else peak_memory_kb(),
            "errorMessage": tail_text(error_message, limit),
        })
        if exc is not None and self.status != "success":
            etype, message, stack = describe_exception(exc)
            event.update({"errorType": etype, "errorMessage": tail_text(error_message or message, limit),
                          "errorStack": tail_text(stack, limit)})
            found = code_snippet(exc)
            if found is not None:
                event["codeSnippet"] = tail_text(found[0], limit)
                event["codeLanguage"] = "python"
        for key, value in extra.items():
            event[key] = tail_text(value, limit) if isinstance(value, str) else value
        event = {k: v for k, v in event.items() if v is not None}
        self.event = event
        if self.client is not None:
            self.client.capture_event(event)
        return event

    def _pop(self) -> None:
        try:
            if self._token is not None:
                _current.reset(self._token)
        except ValueError:  # finished in another context than started
            _current.set(tuple(r for r in _current.get() if r is not self))
        self._token = None
