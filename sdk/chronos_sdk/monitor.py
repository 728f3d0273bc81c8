"""``@monitor("job-id")``: report every run of a function or block.

Works as a decorator of sync and async functions and as a (sync or async)
context manager. Each run sends a ``running`` event when it starts and a final
event with the same ``execId`` when it ends; an exception is recorded and then
re-raised unchanged.
"""
from __future__ import annotations

import contextvars
import functools
import inspect
from typing import Any, Callable, List, Mapping, Optional, Tuple, TypeVar

from .client import ChronosClient, get_client
from .options import resolve_app_version
from .run import JobSpec, Labels, Run
from .utils import capture_internal_exceptions, logger

F = TypeVar("F", bound=Callable[..., Any])

# (monitor, run) pairs entered in this thread or task, innermost last.
_entered: "contextvars.ContextVar[Tuple[Tuple[monitor, Run], ...]]" = contextvars.ContextVar(
    "chronos_sdk_monitors", default=()
)


class monitor:  # noqa: N801 - used like a function, as in sentry_sdk.monitor
    """Report runs of the decorated function or ``with`` block as executions of ``job_id``.

    ``schedule`` / ``name`` (and the other job fields) register the job once per
    client when given. ``client`` defaults to the one made by ``chronos_sdk.init``;
    without any client the code still runs and nothing is reported.
    """

    def __init__(self, job_id: str, *, schedule: Optional[str] = None, name: Optional[str] = None,
                 client: Optional[ChronosClient] = None, run_mode: str = "recurring",
                 timezone: Optional[str] = None, tags: Optional[List[str]] = None,
                 description: Optional[str] = None, labels: Labels = None,
                 metadata: Optional[Mapping[str, Any]] = None, job_version: Optional[str] = None,
                 app_version: Optional[str] = None, attempt: int = 1,
                 trigger_id: Optional[str] = None, capture_output: bool = True) -> None:
        if not job_id or not isinstance(job_id, str):
            raise ValueError("monitor() needs a job id string")
        self.job_id = job_id
        self.client = client
        self.labels = labels
        self.metadata = metadata
        self.job_version = job_version
        # A distribution name ("my-service") resolves to that package's installed version.
        self.app_version = resolve_app_version(app_version) if app_version else None
        self.attempt = attempt
        self.trigger_id = trigger_id
        self.capture_output = capture_output
        self.spec: Optional[JobSpec] = None
        if schedule is not None or name is not None or run_mode != "recurring":
            self.spec = JobSpec(job_id, name=name, schedule=schedule, run_mode=run_mode,
                                version=job_version, timezone=timezone, tags=tags,
                                description=description)

    def _client(self) -> Optional[ChronosClient]:
        client = self.client or get_client()
        if client is None:
            logger.debug("monitor(%r): no client (call chronos_sdk.init()); not reporting", self.job_id)
        return client

    def new_run(self, **overrides: Any) -> Run:
        """A fresh, not yet started :class:`Run` for this monitor's job."""
        client = self._client()
        if client is not None and self.spec is not None:
            with capture_internal_exceptions():
                client.register_job(self.spec)
        params: dict = dict(attempt=self.attempt, trigger_id=self.trigger_id, labels=self.labels,
                            metadata=self.metadata, job_version=self.job_version,
                            app_version=self.app_version, capture_output=self.capture_output)
        params.update(overrides)
        return Run(client, self.job_id, **params)

    # -- context manager --------------------------------------------------------------
    def __enter__(self) -> Run:
        run = self.new_run()
        run.start()
        _entered.set(_entered.get() + ((self, run),))
        return run

    def __exit__(self, exc_type: Any, exc: Optional[BaseException], tb: Any) -> None:
        stack = _entered.get()
        for i in range(len(stack) - 1, -1, -1):
            if stack[i][0] is self:
                run = stack[i][1]
                _entered.set(stack[:i] + stack[i + 1:])
                run.finish(exc)
                break
        # Returns None: the user's exception is never swallowed.

    async def __aenter__(self) -> Run:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: Optional[BaseException], tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)

    # -- decorator --------------------------------------------------------------------
    def __call__(self, fn: F) -> F:
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                async with self:
                    return await fn(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


