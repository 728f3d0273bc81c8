"""Exceptions raised by the Chronos SDK.

Only calls that a program makes on purpose and waits for (``register_jobs``,
``executions``, ``executions_frame``, ``ChronosRunner.start``) raise these.
Telemetry sent in the background never raises into the host program.

The hierarchy::

    ChronosError
    ├── ConfigurationError          -- an option has a bad value (unknown options raise TypeError)
    ├── ClientClosedError           -- the client was closed and cannot send any more
    ├── MissingDependencyError      -- an optional extra (pandas) is not installed; also an ImportError
    ├── JobTimeoutError             -- a runner job ran longer than its timeout; also a TimeoutError
    └── TransportError              -- a request did not get a usable answer
        ├── NetworkError            -- connection refused or reset, DNS failure, timeout
        ├── DeliveryAborted         -- the client is shutting down; the retry loop stopped waiting
        ├── RetriesExhausted        -- retryable failures (429, 5xx, network) went on past the retry window
        └── APIError                -- the server answered with a permanent error (400/401/403/404/409/413)
"""
from __future__ import annotations

from typing import Any, Optional


class ChronosError(Exception):
    """Base class of every exception the SDK raises on purpose."""


class ConfigurationError(ChronosError, ValueError):
    """An option was given a value the SDK cannot use."""


class ClientClosedError(ChronosError):
    """The client was closed; create a new one to send more."""


class MissingDependencyError(ChronosError, ImportError):
    """An optional dependency is needed for this call; the message says what to install."""


class JobTimeoutError(ChronosError, TimeoutError):
    """A job ran longer than the timeout it was registered with."""

    def __init__(self, job_id: str, timeout: float) -> None:
        super().__init__(f"job {job_id!r} timed out after {timeout:g}s")
        self.job_id = job_id
        self.timeout = timeout


class TransportError(ChronosError):
    """A request to the Chronos server did not get a usable answer."""


class NetworkError(TransportError):
    """The server could not be reached (connection error or timeout)."""


class DeliveryAborted(TransportError):
    """The client started shutting down while a delivery was waiting to retry."""


class RetriesExhausted(TransportError):
    """Every retry failed; ``last`` is the last error or HTTP status seen."""

    def __init__(self, message: str, last: Any = None) -> None:
        super().__init__(message)
        self.last = last


class APIError(TransportError):
    """The server refused the request for good; retrying the same request cannot succeed.

    ``status`` is the HTTP status and ``code``/``details`` come from the server's
    ``{"error": {"code", "message", "details"}}`` body when it has one.
    """

    def __init__(
        self,
        status: int,
        message: str,
        code: Optional[str] = None,
        details: Any = None,
    ) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


__all__ = [
    "ChronosError",
    "ConfigurationError",
    "ClientClosedError",
    "MissingDependencyError",
    "JobTimeoutError",
    "TransportError",
    "NetworkError",
    "DeliveryAborted",
    "RetriesExhausted",
    "APIError",
]
