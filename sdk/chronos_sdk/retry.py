"""Retrying requests: 429 ``Retry-After``, exponential backoff with jitter on
network errors and 5xx, and no retry at all for permanent refusals."""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Dict, Mapping, Optional

from .exceptions import DeliveryAborted, NetworkError, RetriesExhausted
from .transport import Response, Transport, api_error
from .utils import backoff_delay, logger


@dataclass
class RetryPolicy:
    """How long to keep trying one request before giving up (the retry window).

    With the defaults a request is tried 6 times over about 20 seconds:
    waits of ``min(max_delay, base_delay * 2**(n-1))`` with 50-100 % jitter.
    A ``Retry-After`` longer than ``max_retry_after`` is not waited for.
    """

    max_retries: int = 5
    base_delay: float = 1.0
    max_delay: float = 8.0
    max_retry_after: float = 60.0


def parse_retry_after(value: Optional[str], now: Optional[datetime] = None) -> Optional[float]:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def is_retryable(status: int) -> bool:
    """429, 408 and 5xx are worth retrying; every other non-2xx answer is final."""
    return status in (408, 429) or status >= 500


class Retrier:
    """Sends requests through a transport, retrying what is worth retrying.

    ``sleep`` and ``clock`` can be replaced (tests inject fakes so nothing really
    waits). Without a custom ``sleep`` the waits end early when :meth:`abort` is
    called, raising :class:`DeliveryAborted`.
    """

    def __init__(self, policy: Optional[RetryPolicy] = None, *,
                 sleep: Optional[Callable[[float], Any]] = None,
                 clock: Callable[[], float] = time.monotonic,
                 rng: Optional[random.Random] = None) -> None:
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.clock = clock
        self.rng = rng or random.Random()
        self.retries = 0  # total retries made, for stats
        self.cut_short = 0  # retry windows ended early by cut_short_now(), for stats
        self._abort = threading.Event()
        self._hurry = threading.Event()
        self._wake = threading.Event()  # set by abort() and cut_short_now(); ends a wait early
        self._blocked_until: Dict[str, float] = {}

    def abort(self) -> None:
        """Make every current and future wait end at once with DeliveryAborted."""
        self._abort.set()
        self._wake.set()

    def cut_short_now(self) -> None:
        """End the retry window of the request being retried now with RetriesExhausted.

        The client calls this when its queue fills up while a batch waits to be retried:
        that batch then goes to the spool instead of newer events being dropped. Cheap and
        safe to call from any thread; it affects only a wait in progress or the next one.
        """
        self._hurry.set()
        self._wake.set()

    def reset_after_fork(self) -> None:
        self._abort = threading.Event()
        self._hurry = threading.Event()
        self._wake = threading.Event()
        self._blocked_until = {}

    @property
    def aborted(self) -> bool:
        return self._abort.is_set()

    def wait(self, seconds: float) -> None:
        self._check_wake()
        if seconds > 0:
            if self.sleep is not None:
                self.sleep(seconds)
            else:
                self._wake.wait(seconds)
        self._check_wake()

    def _check_wake(self) -> None:
        if self._abort.is_set():
            raise DeliveryAborted("client is shutting down")
        if self._hurry.is_set():
            self._hurry.clear()
            self._wake.clear()
            self.cut_short += 1
            raise RetriesExhausted("retry window cut short: the queue is filling up")

    def call(self, transport: Transport, method: str, path: str, *, json: Any = None,
             params: Optional[Mapping[str, Any]] = None, max_retries: Optional[int] = None) -> Response:
        """The first 2xx answer.

        Raises APIError for a permanent refusal, RetriesExhausted when the retry
        window is used up, DeliveryAborted when aborted.
        """
        tries = self.policy.max_retries if max_retries is None else max_retries
        if not self._abort.is_set():
            # A request that has not waited yet starts with a full window; a queue still
            # filling up asks again (cut_short_now) on the next event it takes in.
            self._hurry.clear()
            self._wake.clear()
        # Another request to this path was told to slow down: respect it here too.
        blocked = self._blocked_until.get(path, 0.0) - self.clock()
        if blocked > self.policy.max_retry_after:
            raise RetriesExhausted(f"{path} is rate limited for {blocked:.0f}s more")
        if blocked > 0:
            self.wait(blocked)
        last: Any = None
        for attempt in range(1, tries + 2):
            if self._abort.is_set():
                raise DeliveryAborted("client is shutting down")
            try:
                resp = transport.request(method, path, json=json, params=params)
            except NetworkError as exc:
                last, delay = exc, backoff_delay(attempt, self.policy.base_delay,
                                                 self.policy.max_delay, self.rng)
            else:
                if resp.ok:
                    return resp
                if not is_retryable(resp.status):
                    raise api_error(resp)
                last = resp
                delay = backoff_delay(attempt, self.policy.base_delay, self.policy.max_delay, self.rng)
                if resp.status == 429:
                    after = parse_retry_after(resp.headers.get("retry-after"))
                    if after is not None:
                        delay = after
                    self._blocked_until[path] = self.clock() + delay
                    if delay > self.policy.max_retry_after:
                        raise RetriesExhausted(f"{path}: Retry-After {delay:.0f}s is too long", resp)
            if attempt > tries:
                break
            logger.debug("retrying %s %s in %.2fs (attempt %d): %s", method, path, delay, attempt,
                         getattr(last, "status", last))
            self.retries += 1
            self.wait(delay)
        status = getattr(last, "status", None)
        reason = f"HTTP {status}" if status is not None else str(last)
        raise RetriesExhausted(f"{method} {path} failed after {tries + 1} tries: {reason}", last)
