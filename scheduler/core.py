"""The scheduler process: ``Scheduler.tick(now)`` does one round of work, ``run()`` loops until a signal.

One tick, in order: heartbeat; fire every due job (claim, advance, dispatch); start due retries of
server-side jobs; check late/missed deadlines; check running executions against their maximum runtime;
consume new execution events (monitoring states, trigger acknowledgements, dependencies, the outage
guard's counters). Every step is safe to run in several processes at once against one Redis.

Time comes from ``clock`` (epoch ms), so tests drive a scheduler through any instant without sleeping.
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
SLOW_TICK_S = 0.5


class Scheduler:
    """One scheduler process's worth of work. ``tick`` is safe to call from tests with any ``now``."""

    def __init__(self, r: Redis, settings: Settings, *, clock: Clock = now_ms, node_id: str | None = None,
                 max_sleep: float = 1.0, page_size: int = 500, run_server_jobs: bool = True,
                 workers: int | None = None) -> None:
        self.r = r
        self.settings = settings
        self.clock = clock
        self.node_id = node_id or registry.new_node_id()
        self.max_sleep = max_sleep
        self.stopping = threading.Event()
        self.last_beat = 0
        self.totals = FireStats()
        self.services: list[Any] = []
        self.executor = None
        if run_server_jobs:
            from scheduler.work import ServerJobs

            self.executor = ServerJobs(r, settings, clock=clock, node_id=self.node_id, workers=workers)
        self.firer = Firer(r, self.node_id, page_size=page_size,
                           server_dispatch=self.executor.dispatch if self.executor else None)
        from scheduler.watch import Watcher

        self.watcher = Watcher(r, settings, clock=clock, node_id=self.node_id,
                               on_success=self.executor.on_dependency_success if self.executor else None)

    # ---- one round ---------------------------------------------------------------------------

    def tick(self, now: int | None = None) -> float:
        """Do the work due at ``now`` (default: the clock). Returns seconds to sleep, capped at ``max_sleep``."""
        now = self.clock() if now is None else now
        if now - self.last_beat >= 1000 or now < self.last_beat:
            registry.beat(self.r, self.node_id, now, self.stats())
            self.last_beat = now
            self.firer.descending = self._rank() % 2 == 1
        started = time.monotonic()
        fired = self.firer.fire_due(now)
        fired_s = time.monotonic() - started
        self.totals.add(fired)
        if self.executor is not None:
            self.executor.start_due_retries(now)
        busy = self.watcher.tick(now)
        took = time.monotonic() - started
        if took > SLOW_TICK_S or log.isEnabledFor(logging.DEBUG):
            log.log(logging.INFO if took > SLOW_TICK_S else logging.DEBUG,
                    "tick at %d: %d fires claimed (%d lost) in %.0f ms, then %.0f ms watching", now, fired.claimed,
                    fired.lost, fired_s * 1000, (took - fired_s) * 1000)
        if fired.more or busy:
            return 0.0
        return self._sleep_for(now)

    def _rank(self) -> int:
        """This process's place among the live schedulers (by start), 0 when it is not registered."""
        alive = [n["id"] for n in registry.list_nodes(self.r) if n["alive"]]
        return alive.index(self.node_id) if self.node_id in alive else 0

    def _sleep_for(self, now: int) -> float:
        wake = [x for x in (self.firer.next_due(), self.executor.next_retry() if self.executor else None)
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
                "coalesced": t.coalesced}

    # ---- the process loop ----------------------------------------------------------------------

    def request_stop(self, *_: Any) -> None:
        """Ask the loop to finish its tick and exit (the SIGTERM/SIGINT handler)."""
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def run(self, *, handle_signals: bool = True) -> int:
        """Tick until ``request_stop`` (or SIGTERM/SIGINT). Registers birth and death."""
        if handle_signals:
            self.install_signal_handlers()
        registry.register_birth(self.r, self.node_id, self.clock())
        log.info("scheduler %s started", self.node_id)
        try:
            while not self.stopping.is_set():
                try:
                    delay = self.tick()
                except Exception:  # noqa: BLE001 - keep the loop alive; Redis may be restarting
                    log.exception("tick failed")
                    delay = self.max_sleep
                if delay > 0:
                    self.stopping.wait(delay)
        finally:
            if self.executor is not None:
                self.executor.shutdown()
            self.watcher.notifier.shutdown()
            registry.register_death(self.r, self.node_id)
            log.info("scheduler %s stopped", self.node_id)
        return 0
