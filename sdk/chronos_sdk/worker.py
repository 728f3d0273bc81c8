"""The background worker: a bounded in-memory queue drained by one daemon thread.

The thread starts on the first :meth:`BackgroundWorker.submit`, never at import
or construction. It hands batches to a ``sink`` when ``batch_size`` items are
waiting (size trigger) or the oldest item has waited about ``flush_interval``
seconds (time trigger, with +-10 % jitter so many processes do not send in step).
"""
from __future__ import annotations

import os
import random
import threading
import time
import weakref
from collections import deque
from typing import Any, Callable, Deque, List, Optional

from .utils import capture_internal_exceptions, logger

_workers: "weakref.WeakSet[BackgroundWorker]" = weakref.WeakSet()
_fork_callbacks: List[Callable[[], None]] = []
_fork_hook_installed = False
_fork_hook_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _fork_hook_lock
    _fork_hook_lock = threading.Lock()  # may have been held by another thread at fork time
    for callback in list(_fork_callbacks):
        with capture_internal_exceptions():
            callback()
    for worker in list(_workers):
        with capture_internal_exceptions():
            worker.check_pid()


def on_fork_in_child(callback: Callable[[], None]) -> None:
    """Call ``callback`` in every child process forked from now on (e.g. to renew a lock).

    Installs the ``os.register_at_fork`` hook on first use, never at import.
    """
    global _fork_hook_installed
    with _fork_hook_lock:
        if callback not in _fork_callbacks:
            _fork_callbacks.append(callback)
        if not _fork_hook_installed and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_after_fork_in_child)
            _fork_hook_installed = True


class BackgroundWorker:
    """Queue items for a sink called on a daemon thread.

    ``sink(items)`` receives a list of at most ``batch_size`` items. ``on_idle()``
    is called about every ``flush_interval`` seconds while the thread runs.
    ``on_fork()`` is called in a child process, after the worker has forgotten
    the parent's queue and thread (the parent still delivers those).
    """

    def __init__(self, sink: Callable[[List[Any]], None], *, queue_size: int = 1000,
                 batch_size: int = 100, flush_interval: float = 2.0,
                 on_idle: Optional[Callable[[], None]] = None,
                 on_fork: Optional[Callable[[], None]] = None,
                 on_pressure: Optional[Callable[[], None]] = None,
                 name: str = "chronos-sdk-worker", rng: Optional[random.Random] = None) -> None:
        self.sink = sink
        self.on_pressure = on_pressure
        self.high_water = max(1, queue_size // 2)
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.on_idle = on_idle
        self.on_fork = on_fork
        self.name = name
        self._rng = rng or random.Random()
        self._reset()
        _workers.add(self)
        on_fork_in_child(_noop)

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._buf: Deque[Any] = deque()
        self._inflight: List[Any] = []
        self._thread: Optional[threading.Thread] = None
        self._pid = os.getpid()
        self._stopping = False
        self._flush_asked = 0
        self._flush_done = 0
        self._oldest: Optional[float] = None
        self._next_idle = time.monotonic() + self.flush_interval
        self.submitted = 0
        self.dropped = 0

    # -- called from user threads -------------------------------------------------
    def check_pid(self) -> None:
        """Reset after a fork: the child starts with an empty queue and no thread."""
        if self._pid != os.getpid():
            self._reset()
            if self.on_fork is not None:
                with capture_internal_exceptions():
                    self.on_fork()

    def submit(self, item: Any) -> bool:
        """Queue ``item``; False (and a counted drop) when the queue is full or stopped. Never blocks."""
        self.check_pid()
        with self._cond:
            if self._stopping or len(self._buf) >= self.queue_size:
                self.dropped += 1
                return False
            self._buf.append(item)
            self.submitted += 1
            if self._oldest is None:
                self._oldest = time.monotonic()
            self._ensure_thread()
            if len(self._buf) >= self.batch_size:
                self._cond.notify_all()
            pressure = bool(self._inflight) and len(self._buf) >= self.high_water
        if pressure and self.on_pressure is not None:
            # The sink is busy (e.g. waiting to retry) while the queue fills: ask it to hurry.
            with capture_internal_exceptions():
                self.on_pressure()
        return True

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait until everything submitted before this call was handed to the sink.

        True when done, False when ``timeout`` seconds passed first.
        """
        self.check_pid()
        with self._cond:
            if not self._buf and not self._inflight:
                return True
            if self._stopping or not self._ensure_thread():
                return False
            self._flush_asked += 1
            target = self._flush_asked
            self._cond.notify_all()
            return self._cond.wait_for(
                lambda: self._flush_done >= target or not self._alive(), timeout
            ) and self._flush_done >= target

    def pending(self) -> int:
        """Items queued or being delivered right now."""
        with self._cond:
            return len(self._buf) + len(self._inflight)

    def stop(self, timeout: float = 1.0) -> List[Any]:
        """Stop the thread; the items it did not hand to the sink (queued, or in flight if stuck)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        with self._cond:
            left = list(self._inflight) if self._alive() else []
            left.extend(self._buf)
            self._buf.clear()
            return left

    # -- the thread -------------------------------------------------------------
    def _alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _ensure_thread(self) -> bool:
        if self._alive():
            return True
        if self._stopping:
            return False
        thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        try:
            thread.start()
        except RuntimeError:  # interpreter shutting down: close() spools what is queued
            return False
        self._thread = thread
        return True

    def start(self) -> bool:
        """Start the thread now and run ``on_idle`` at once (e.g. to replay a spool)."""
        self.check_pid()
        with self._cond:
            self._next_idle = 0.0
            started = self._ensure_thread()
            self._cond.notify_all()
            return started

    def _interval(self) -> float:
        return self.flush_interval * self._rng.uniform(0.9, 1.1)

    def _due(self, deadline: float) -> Optional[float]:
        """None when the loop should act now, else how long to wait."""
        if self._flush_done < self._flush_asked or len(self._buf) >= self.batch_size:
            return None
        now = time.monotonic()
        waits = [self._next_idle - now]
        if self._oldest is not None:
            waits.append(deadline - now)
        wait = min(waits)
        return None if wait <= 0 else wait

    def _run(self) -> None:
        interval = self._interval()
        while True:
            with self._cond:
                while True:
                    if self._stopping:
                        return
                    deadline = (self._oldest or time.monotonic()) + interval
                    wait = self._due(deadline)
                    if wait is None:
                        break
                    self._cond.wait(wait)
                target = self._flush_asked
                items = list(self._buf)
                self._buf.clear()
                self._inflight = items
                self._oldest = None
            interval = self._interval()
            for i in range(0, len(items), self.batch_size):
                with capture_internal_exceptions():
                    self.sink(items[i:i + self.batch_size])
            if time.monotonic() >= self._next_idle:
                self._next_idle = time.monotonic() + self.flush_interval
                if self.on_idle is not None:
                    with capture_internal_exceptions():
                        self.on_idle()
            with self._cond:
                self._inflight = []
                self._flush_done = max(self._flush_done, target)
                self._cond.notify_all()
            if items:
                logger.debug("worker handed %d item(s) to the sink", len(items))


def _noop() -> None:
    """Registered so that creating a worker installs the fork hook."""
