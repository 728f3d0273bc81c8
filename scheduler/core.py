"""The scheduler process: ``Scheduler.tick(now)`` does one round of work, ``run()`` loops until a signal.

The work is two rounds that never wait for each other in ``run()``:

* ``fire(now)``: heartbeat; send the triggers claimed ahead that are now due; fire every due job (claim,
  advance, dispatch) and, with ``fire_ahead_ms``, claim the SDK jobs due within that much ahead of time
  (``scheduler.firing``); start due retries of server-side jobs. ``run()`` does it on its own thread
  ("chronos-firing"), waking when the next of those is due.
* ``watch(now)``: consume new execution events (monitoring states, trigger acknowledgements, dependencies,
  the outage guard's counters); check late/missed deadlines and running executions against their maximum
  runtime. ``run()`` does it on the main thread, which also receives SIGTERM/SIGINT.

Firing has priority: while a firing round is under way the watcher finishes the read it is handling and
waits before the next one (at most ``WATCH_YIELD_S``), so thousands of events never delay a due fire, and
the watcher's Python work does not compete with the firing thread's for the interpreter.

``tick(now)`` does both rounds in that order on the calling thread (what the tests drive). Every step is
safe to run in several processes at once against one Redis. Time comes from ``clock`` (epoch ms), so tests
drive a scheduler through any instant without sleeping.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any, Callable

from redis import Redis

from chronos.config import Settings
from chronos.scheduling import registry
from chronos.timeutil import now_ms
from scheduler.firing import Firer, FireStats

log = logging.getLogger(__name__)

Clock = Callable[[], int]
Round = Callable[[int], float]  # (now) -> seconds until the round should run again
SLOW_ROUND_S = 0.5
WATCH_YIELD_S = 2.0  # the longest the watcher waits for a firing round before reading anyway


class Scheduler:
    """One scheduler process's worth of work. ``tick`` is safe to call from tests with any ``now``."""

    def __init__(self, r: Redis, settings: Settings, *, clock: Clock = now_ms, node_id: str | None = None,
                 max_sleep: float = 1.0, page_size: int = 1000, run_server_jobs: bool = True,
                 workers: int | None = None, fire_ahead_ms: int = 0) -> None:
        self.r = r
        self.settings = settings
        self.clock = clock
        self.node_id = node_id or registry.new_node_id()
        self.max_sleep = max_sleep
        self.stopping = threading.Event()
        self.not_firing = threading.Event()  # clear while a firing round is under way
        self.not_firing.set()
        self.last_beat = 0
        self.totals = FireStats()
        self.executor = None
        if run_server_jobs:
            from scheduler.work import ServerJobs

            self.executor = ServerJobs(r, settings, clock=clock, node_id=self.node_id, workers=workers)
        self.firer = Firer(r, self.node_id, page_size=page_size, ahead_ms=fire_ahead_ms,
                           server_dispatch=self.executor.dispatch if self.executor else None)
        from scheduler.watch import Watcher

        self.watcher = Watcher(r, settings, clock=clock, node_id=self.node_id,
                               on_success=self.executor.on_dependency_success if self.executor else None,
                               before_read=self._yield_to_firing)

    # ---- the rounds ----------------------------------------------------------------------------

    def tick(self, now: int | None = None) -> float:
        """Fire, then watch, at ``now`` (default: the clock). Returns seconds to sleep, capped at ``max_sleep``."""
        now = self.clock() if now is None else now
        delay = self.fire(now)
        return 0.0 if self.watch(now) == 0.0 else delay

    def fire(self, now: int) -> float:
        """Heartbeat, fire the jobs due at ``now`` and start due retries. Returns seconds until the next due
        time (0 when due jobs are left over, at most ``max_sleep``)."""
        if now - self.last_beat >= 1000 or now < self.last_beat:
            registry.beat(self.r, self.node_id, now, self.stats())
            self.last_beat = now
            self.firer.descending = self._rank() % 2 == 1
        started = time.monotonic()
        self.not_firing.clear()
        try:
            fired = self.firer.fire_due(now)
        finally:
            self.not_firing.set()
        self.totals.add(fired)
        if self.executor is not None:
            self.executor.start_due_retries(now)
        took = time.monotonic() - started
        if took > SLOW_ROUND_S or log.isEnabledFor(logging.DEBUG):
            log.log(logging.INFO if took > SLOW_ROUND_S else logging.DEBUG,
                    "firing at %d: %d triggers released, %d fires claimed (%d ahead, %d lost) in %.0f ms", now,
                    fired.released, fired.claimed, fired.ahead, fired.lost, took * 1000)
        return 0.0 if fired.more else self._sleep_for(now)

    def watch(self, now: int) -> float:
        """Handle execution events, deadlines and runtimes. Returns 0 when more events are waiting than one
        round reads, else ``max_sleep``."""
        started = time.monotonic()
        busy = self.watcher.tick(now)
        took = time.monotonic() - started
        if took > SLOW_ROUND_S:
            log.info("watching at %d took %.0f ms", now, took * 1000)
        return 0.0 if busy else self.max_sleep

    def _yield_to_firing(self) -> None:
        self.not_firing.wait(WATCH_YIELD_S)

    def _rank(self) -> int:
        """This process's place among the live schedulers (by start), 0 when it is not registered."""
        alive = [n["id"] for n in registry.list_nodes(self.r) if n["alive"]]
        return alive.index(self.node_id) if self.node_id in alive else 0

    def _sleep_for(self, now: int) -> float:
        wake = [x for x in (self.firer.next_wake(now), self.executor.next_retry() if self.executor else None)
                if x is not None]
        if not wake:
            return self.max_sleep
        return max(0.0, min(self.max_sleep, (min(wake) - now) / 1000))

    def drain(self) -> None:
        """Wait for started server-side attempts and queued alert deliveries (tests, shutdown)."""
        if self.executor is not None:
            self.executor.drain()
        self.watcher.notifier.drain()

    def stats(self) -> dict[str, Any]:
        t = self.totals
        return {"claimed": t.claimed, "lost": t.lost, "dispatched": t.dispatched, "missed": t.missed,
                "coalesced": t.coalesced, "ahead": t.ahead, "released": t.released}

    # ---- the process loop ----------------------------------------------------------------------

    def request_stop(self, *_: Any) -> None:
        """Ask both loops to finish their round and exit (the SIGTERM/SIGINT handler)."""
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def run(self, *, handle_signals: bool = True) -> int:
        """Fire on a thread of its own and watch on this one until ``request_stop`` (or SIGTERM/SIGINT).
        Registers birth and death."""
        if handle_signals:
            self.install_signal_handlers()
        registry.register_birth(self.r, self.node_id, self.clock())
        log.info("scheduler %s started", self.node_id)
        firing = threading.Thread(target=self._loop, args=(self.fire, "firing"), name="chronos-firing", daemon=True)
        firing.start()
        try:
            self._loop(self.watch, "watching")
        finally:
            self.stopping.set()
            firing.join()
            if self.executor is not None:
                self.executor.shutdown()
            self.watcher.notifier.shutdown()
            registry.register_death(self.r, self.node_id)
            log.info("scheduler %s stopped", self.node_id)
        return 0

    def _loop(self, round_: Round, name: str) -> None:
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                delay = round_(self.clock())
            except Exception:  # noqa: BLE001 - keep the loop alive; Redis may be restarting
                log.exception("%s failed", name)
                delay = self.max_sleep
            # The delay counts from the start of the round: a round that took a while wakes on time.
            delay -= time.monotonic() - started
            if delay > 0:
                self.stopping.wait(delay)
