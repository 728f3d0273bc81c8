"""The batch runner process: finds active batches, runs a ``BatchWork`` for each, and coordinates with the
other runners through Redis.

Runners register with a heartbeat (``chr:batchrunner:<name>``, a few seconds' TTL). A batch's
``concurrency`` is split between the live runners (each takes ``ceil(concurrency / live)``), and a process
never has more than ``CHRONOS_BATCH_RUNNER_CONCURRENCY`` requests in flight over all its batches.
"""
from __future__ import annotations

import asyncio
import logging
import math
import os
import secrets
import socket
import time
from collections import deque
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from batch_runner.http import ConnectionPool
from batch_runner.work import BatchWork
from chronos import keys
from chronos.batches.lua import BatchScripts
from chronos.config import Settings

log = logging.getLogger(__name__)

HEARTBEAT_S = 1.0
HEARTBEAT_TTL_S = 5
DISCOVER_S = 0.25
RATE_WINDOWS_PER_S = 10


class Slots:
    """Requests in flight in this process: a semaphore with a non-awaiting fast path for the hot loop."""

    def __init__(self, n: int) -> None:
        self.free = n
        self.waiters: deque[asyncio.Future] = deque()

    def take(self) -> bool:
        if self.free > 0:
            self.free -= 1
            return True
        return False

    async def wait(self) -> None:
        """Wait for a slot that ``give`` hands over (call after ``take`` returned False)."""
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        await waiter

    def give(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1


class Runner:
    def __init__(self, settings: Settings, r: Redis, *, name: str | None = None,
                 concurrency: int | None = None) -> None:
        self.settings = settings
        self.r = r
        # BatchWork reads XREADGROUP replies raw (no per-entry dicts): a third of the fetch cost.
        r.set_response_callback("XREADGROUP", lambda response, **_: response)
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.concurrency = concurrency or settings.chronos_batch_runner_concurrency
        self.reclaim_ms = max(100, settings.chronos_batch_reclaim_ms)
        self.ttl = settings.batch_retention_seconds
        self.scripts = BatchScripts(r)
        self.pool = ConnectionPool()
        self.slots = Slots(self.concurrency)
        self.works: dict[str, BatchWork] = {}
        self.live = 1
        self.reclaimed = 0
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """Ask the runner to shut down cleanly (signal handlers call this)."""
        self._stop.set()

    def share_for(self, concurrency: int) -> int:
        return max(1, min(self.concurrency, math.ceil(concurrency / max(1, self.live))))

    async def rate_grant(self, batch_id: str, rate: float, want: int) -> int:
        """Permits to start up to ``want`` records now under the batch's records/s limit (shared by all
        runners: fixed 100 ms windows whose capacities add up to exactly ``rate`` per second)."""
        now = time.time()
        window = int(now * RATE_WINDOWS_PER_S)
        cap = math.floor(rate * (window + 1) / RATE_WINDOWS_PER_S) - math.floor(rate * window / RATE_WINDOWS_PER_S)
        granted = int(await self.scripts.rate(keys=[keys.batch_rate(batch_id, window)], args=[want, cap, 2000]))
        if granted <= 0:
            await asyncio.sleep(max(0.001, (window + 1) / RATE_WINDOWS_PER_S - now))
        return granted

    # ---- coordination ---------------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        pipe = self.r.pipeline(transaction=False)
        pipe.set(keys.batch_runner(self.name), orjson.dumps({"pid": os.getpid(), "at": int(time.time() * 1000),
                                                             "works": len(self.works)}), ex=HEARTBEAT_TTL_S)
        pipe.sadd(keys.batch_runners(), self.name)
        pipe.smembers(keys.batch_runners())
        names = [n.decode() for n in (await pipe.execute())[2]]
        pipe = self.r.pipeline(transaction=False)
        for n in names:
            pipe.exists(keys.batch_runner(n))
        alive = await pipe.execute()
        dead = [n for n, ok in zip(names, alive) if not ok]
        if dead:
            await self.r.srem(keys.batch_runners(), *dead)
        live = max(1, len(names) - len(dead))
        if live != self.live:
            self.live = live
            for work in self.works.values():
                work.resize(self.share_for(work.cfg.concurrency))

    async def _discover(self) -> None:
        active = {b.decode() for b in await self.r.smembers(keys.active_batches())}
        ids = sorted(active | set(self.works))
        pipe = self.r.pipeline(transaction=False)
        for batch_id in ids:
            pipe.hmget(keys.batch(batch_id), "owner", "state", "config")
        metas = await pipe.execute()
        for batch_id, (owner, state, config) in zip(ids, metas):
            state = state.decode() if state else None
            work = self.works.get(batch_id)
            if work is None:
                if batch_id in active and state in ("queued", "running") and owner and config:
                    await self._open(batch_id, owner.decode(), orjson.loads(config))
                continue
            if state == "cancelled" and not work.cancelled:
                work.cancel()
            if batch_id not in active and work.idle:
                del self.works[batch_id]
                await work.stop(0)

    async def _open(self, batch_id: str, owner: str, config: dict[str, Any]) -> None:
        try:
            work = BatchWork(self, batch_id, owner, config)
        except ValueError as exc:  # a config that validated at submit time always validates here
            log.error("batch %s: unusable configuration: %s", batch_id, exc)
            return
        self.works[batch_id] = work
        await work.start()
        log.info("batch %s: started (share %d of %d)", batch_id, work.share, work.cfg.concurrency)

    async def _loop(self, every: float, step: Any) -> None:
        while not self._stop.is_set():
            try:
                await step()
            except RedisError as exc:
                log.warning("%s failed: %s", step.__name__, exc)
            try:
                await asyncio.wait_for(self._stop.wait(), every)
            except asyncio.TimeoutError:
                pass

    async def run(self, grace: float = 10.0) -> None:
        """Work until ``stop()``; then finish requests in flight (up to ``grace`` s) and hand back the rest."""
        log.info("batch runner %s: up (concurrency %d, reclaim after %d ms)", self.name, self.concurrency,
                 self.reclaim_ms)
        loops = [asyncio.create_task(self._loop(HEARTBEAT_S, self._heartbeat)),
                 asyncio.create_task(self._loop(DISCOVER_S, self._discover))]
        try:
            await self._stop.wait()
        finally:
            self._stop.set()
            await asyncio.gather(*loops, return_exceptions=True)
            await asyncio.gather(*(w.stop(grace) for w in self.works.values()), return_exceptions=True)
            self.works.clear()
            try:
                await self.r.delete(keys.batch_runner(self.name))
                await self.r.srem(keys.batch_runners(), self.name)
            except RedisError:
                pass
            self.pool.close()
            log.info("batch runner %s: stopped", self.name)
