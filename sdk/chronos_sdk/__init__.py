"""Chronos Synapse SDK: report job runs to a Chronos server, run scheduled jobs, read history.

Quick start::

    import chronos_sdk
    chronos_sdk.init(api_key="chr_...")          # or set CHRONOS_API_KEY

    @chronos_sdk.monitor("nightly-report", schedule="0 2 * * *")
    def nightly_report(): ...

Importing this package has no side effects: no thread starts and nothing is
sent until :func:`init` (or a :class:`ChronosClient`) is created and used.
"""
from __future__ import annotations

from typing import Any, Optional

from ._version import __version__
from .client import ChronosClient, ClientState, get_client, set_client
from .exceptions import (
    APIError,
    ChronosError,
    ClientClosedError,
    ConfigurationError,
    DeliveryAborted,
    JobTimeoutError,
    MissingDependencyError,
    NetworkError,
    RetriesExhausted,
    TransportError,
)
from .monitor import monitor
from .run import JobSpec, Run, current_run
from .runner import ChronosRunner, RunResult
from .transport import MemoryTransport, RequestsTransport, Response, Transport
from .utils import capture_internal_exceptions


def init(api_key: Optional[str] = None, *, endpoint: Optional[str] = None, app_id: Optional[str] = None,
         app_version: Optional[str] = None, timeout: float = 5.0, queue_size: int = 1000,
         batch_size: int = 100, flush_interval: float = 2.0, shutdown_timeout: float = 2.0,
         spool_dir: Any = None, max_log_bytes: int = 65536, gzip: bool = True,
         transport: Optional[Transport] = None, max_retries: int = 5,
         debug: bool = False) -> ChronosClient:
    """Create the process-wide client used by :func:`monitor` and return it.

    Options left out fall back to ``CHRONOS_API_KEY``, ``CHRONOS_ENDPOINT``
    (default ``http://127.0.0.1:8050``), ``CHRONOS_APP_ID``, ``CHRONOS_APP_VERSION``
    and ``CHRONOS_SPOOL_DIR``. An earlier client made by ``init`` is closed.
    Unknown options raise TypeError; bad values raise ConfigurationError.
    """
    client = ChronosClient(
        api_key, endpoint=endpoint, app_id=app_id, app_version=app_version, timeout=timeout,
        queue_size=queue_size, batch_size=batch_size, flush_interval=flush_interval,
        shutdown_timeout=shutdown_timeout, spool_dir=spool_dir, max_log_bytes=max_log_bytes,
        gzip=gzip, transport=transport, max_retries=max_retries, debug=debug,
    )
    previous = set_client(client)
    if previous is not None and previous is not client:
        previous.close()
    return client


def flush(timeout: Optional[float] = None) -> bool:
    """Flush the process-wide client; True when everything was delivered or spooled in time."""
    client = get_client()
    return True if client is None else client.flush(timeout)


def close(timeout: Optional[float] = None) -> None:
    """Close the process-wide client (idempotent) and forget it."""
    client = set_client(None)
    if client is not None:
        client.close(timeout)


__all__ = [
    "__version__", "init", "flush", "close", "get_client", "set_client",
    "ChronosClient", "ClientState", "monitor", "current_run", "Run", "JobSpec",
    "ChronosRunner", "RunResult", "Transport", "RequestsTransport", "MemoryTransport", "Response",
    "capture_internal_exceptions",
    "ChronosError", "ConfigurationError", "ClientClosedError", "MissingDependencyError",
    "JobTimeoutError", "TransportError", "NetworkError", "DeliveryAborted", "RetriesExhausted",
    "APIError",
]
