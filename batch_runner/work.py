"""One batch inside one runner process: fetch record chunks from the batch's stream, deliver the records,
report the results.

A stream entry is a chunk of up to 100 records (see ``chronos.batches.model``), read with XREADGROUP when
the process's share of the batch's concurrency runs low. ``share`` worker coroutines deliver the records over
pooled keep-alive connections; results are flushed every few milliseconds through the FINALIZE script, which
counts each record exactly once (its result slot goes from pending to final once) and acknowledges a chunk
when all its records are final. Until then the chunk stays pending in the consumer group, so a crash loses
nothing: another runner reclaims it (XAUTOCLAIM) after CHRONOS_BATCH_RECLAIM_MS and sends only the records
whose slots are still pending. Chunks held longer than a third of that (slow endpoints, backoff) have their
idle time reset, so that a live runner keeps them.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import orjson
from redis.exceptions import RedisError

from batch_runner.http import HttpError, Origin, build_head
from chronos import keys
from chronos.batches.model import (DELIVERED, ENTRY_RECORDS, FAILED, SLOT_BYTES, BatchConfig, pack_report,
                                   unpack_records)
from chronos.batches.stats import bucket
from chronos.batches.store import EVENT_STREAM_MAXLEN, PROGRESS_EVERY_MS
from chronos.outbound import OutboundRefused, check_url

if TYPE_CHECKING:
    from batch_runner.runner import Runner

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.01
FLUSH_MAX = 1000
MAX_BACKOFF_S = 30.0


class Chunk:
    """A stream entry in this runner's hands; acknowledged once ``left`` reaches 0."""

    __slots__ = ("eid", "left", "since")

    def __init__(self, eid: bytes, left: int, since: float) -> None:
        self.eid, self.left, self.since = eid, left, since


class Item:
    """A record in this runner's hands."""

    __slots__ = ("chunk", "seq", "rid", "body", "attempts")

    def __init__(self, chunk: Chunk, seq: int, rid: bytes, body: bytes) -> None:
        self.chunk, self.seq, self.rid, self.body, self.attempts = chunk, seq, rid, body, 0


class BatchWork:
    def __init__(self, runner: "Runner", batch_id: str, owner: str, config: dict[str, Any]) -> None:
        self.runner = runner
        self.r = runner.r
        self.id = batch_id
        self.owner = owner
        self.cfg = BatchConfig.model_validate(config)
        self.origin = Origin(self.cfg.protocol, self.cfg.host, self.cfg.effective_port)
        self.head = build_head(self.cfg.method, self.cfg.path, self.origin, self.cfg.headers)
        self.timeout = self.cfg.timeoutMs / 1000.0
        self.stream = keys.batch_records(batch_id)
        self.ready: deque[Item] = deque()  # records waiting for a worker
        self.waiters: deque[asyncio.Future] = deque()  # idle workers
        self.held: dict[bytes, Chunk] = {}
        self.inflight = 0
        self.waiting = 0  # records sleeping before a retry
        self.results: list[bytes] = []  # packed reports waiting for the next flush
        self.failures: list[tuple[int, bytes]] = []
        self.acks: list[bytes] = []  # chunks whose records are all reported
        self.flush_wanted = asyncio.Event()
        self.room = asyncio.Event()
        self.tokens = 0  # rate-limit permits in hand
        self.refilling: asyncio.Task | None = None
        self.refused: str | None = None
        self.cancelled = False
        self.stopping = False
        self.started_marked = False
        self.workers: list[asyncio.Task] = []
        self.tasks: list[asyncio.Task] = []
        self.share = 1

    # ---- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await asyncio.to_thread(check_url, self.cfg.url, self.runner.settings.chronos_outbound_allow)
        except OutboundRefused as exc:
            self.refused = f"outbound refused: {exc}"
        self.resize(self.runner.share_for(self.cfg.concurrency))
        self.tasks = [asyncio.create_task(self._fetch_loop(), name=f"fetch:{self.id}"),
                      asyncio.create_task(self._flush_loop(), name=f"flush:{self.id}"),
                      asyncio.create_task(self._upkeep_loop(), name=f"upkeep:{self.id}")]

    def resize(self, share: int) -> None:
        """Run ``share`` delivery coroutines (this process's part of the batch's concurrency)."""
        self.share = max(1, share)
        self.workers = [w for w in self.workers if not w.done()]
        while len(self.workers) < self.share:
            self.workers.append(asyncio.create_task(self._worker(len(self.workers))))
        self.room.set()

    def cancel(self) -> None:
        """The batch was cancelled: records not yet sent are acknowledged without delivery."""
        self.cancelled = True
        self.room.set()

    async def stop(self, grace: float) -> None:
        """Stop fetching, let requests in flight finish (up to ``grace`` s), flush, hand back the rest."""
        self.stopping = True
        self.room.set()
        deadline = time.monotonic() + grace
        while self.inflight and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for task in self.workers + self.tasks:
            task.cancel()
        await asyncio.gather(*self.workers, *self.tasks, return_exceptions=True)
        await self._flush()
        left = list(self.held)
        if left:
            # Make what we still hold look long idle so that another runner reclaims it at once.
            try:
                for i in range(0, len(left), 500):
                    await self.r.xclaim(self.stream, keys.BATCH_GROUP, self.runner.name, 0, left[i:i + 500],
                                        idle=10 * self.runner.reclaim_ms, justid=True)
            except RedisError as exc:
                log.warning("batch %s: could not hand back %d chunks: %s", self.id, len(left), exc)

    @property
    def idle(self) -> bool:
        return not self.held and not self.results and not self.acks

    # ---- fetching -------------------------------------------------------------------------------

    def push(self, item: Item) -> None:
        self.ready.append(item)
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break

    def _retry_later(self, item: Item) -> None:
        self.waiting -= 1
        self.push(item)

    async def _take(self, entries: list[tuple[bytes, bytes]], reclaimed: bool = False) -> int:
        """Hold (entry id, chunk) entries and queue their records; with ``reclaimed``, only records whose
        result is still pending (another runner may have reported some before it died)."""
        now = time.monotonic()
        n = 0
        for eid, blob in entries:
            if eid in self.held:
                continue
            records = unpack_records(blob)
            if reclaimed and records:
                pipe = self.r.pipeline(transaction=False)
                for seq, _, _ in records:
                    pipe.getrange(keys.batch_results(self.id), seq * SLOT_BYTES, seq * SLOT_BYTES)
                states = await pipe.execute()
                records = [rec for rec, st in zip(records, states) if not st or st[0] == 0]
            chunk = Chunk(eid, len(records), now)
            self.held[eid] = chunk
            if not records:
                self._ack(chunk)
                continue
            push = self.push
            for seq, rid, body in records:
                push(Item(chunk, seq, rid, body))
            n += len(records)
        return n

    async def _fetch_loop(self) -> None:
        while not self.stopping:
            # Keep two to four rounds of work in hand, so that a slow Redis round trip (a remote server, a busy
            # machine) does not leave the workers idle; records in hand but not yet sent are never sent twice.
            backlog = len(self.ready) + self.inflight + self.waiting
            if self.cancelled or backlog >= 2 * self.share or len(self.held) >= self._held_limit():
                self.room.clear()
                await self.room.wait()
                continue
            count = max(1, -(-(4 * self.share - backlog) // ENTRY_RECORDS))
            try:
                # Raw reply (the client skips redis-py's per-entry dicts): [[stream, [[id, [b"r", blob]], ...]]]
                reply = await self.r.execute_command("XREADGROUP", "GROUP", keys.BATCH_GROUP, self.runner.name,
                                                     "COUNT", count, "BLOCK", 500, "STREAMS", self.stream, ">")
            except RedisError as exc:
                log.warning("batch %s: read failed: %s", self.id, exc)
                await asyncio.sleep(1.0)
                continue
            if reply:
                entries = reply[0][1]
                await self._take([(e[0], e[1][1]) for e in entries if e[1]])
                if entries and not self.started_marked:
                    self.started_marked = True
                    await self.runner.scripts.start(keys=[keys.batch(self.id)], args=[int(time.time() * 1000)])

    def _held_limit(self) -> int:
        return 8 + 8 * self.share // ENTRY_RECORDS

    async def reclaim(self) -> int:
        """Take over chunks another runner has held for longer than the reclaim time (as many as fit)."""
        cursor: bytes | str = "0-0"
        n = 0
        while len(self.held) < self._held_limit() and not (self.cancelled or self.stopping):
            reply = await self.r.xautoclaim(self.stream, keys.BATCH_GROUP, self.runner.name,
                                            self.runner.reclaim_ms, cursor,
                                            count=self._held_limit() - len(self.held))
            cursor, claimed, deleted = reply[0], reply[1], (reply[2] if len(reply) > 2 else [])
            for eid in deleted:  # deleted meanwhile: nothing left to deliver
                self._ack(Chunk(eid, 0, 0.0))
            got = await self._take([(eid, f[b"r"]) for eid, f in claimed if f], reclaimed=True)
            if claimed:
                log.info("batch %s: reclaimed %d chunks (%d records to send)", self.id, len(claimed), got)
            n += got
            if not claimed or cursor in (b"0-0", "0-0"):
                break
        self.runner.reclaimed += n
        return n

    async def _upkeep_loop(self) -> None:
        every = max(0.2, self.runner.reclaim_ms / 4000.0)
        while True:
            await asyncio.sleep(every)
            try:
                await self.reclaim()
                cutoff = time.monotonic() - self.runner.reclaim_ms / 3000.0
                old = [c for c in self.held.values() if c.since < cutoff]
                if old:
                    await self.r.xclaim(self.stream, keys.BATCH_GROUP, self.runner.name, 0,
                                        [c.eid for c in old], justid=True)
                    now = time.monotonic()
                    for c in old:
                        c.since = now
            except RedisError as exc:
                log.warning("batch %s: upkeep failed: %s", self.id, exc)

    # ---- delivering -----------------------------------------------------------------------------

    async def _next(self) -> Item:
        while not self.ready:
            waiter = asyncio.get_running_loop().create_future()
            self.waiters.append(waiter)
            await waiter
        return self.ready.popleft()

    async def _permit(self) -> None:
        """One request's worth of the batch's rate limit (shared by all runners through Redis)."""
        while self.tokens <= 0:
            if self.refilling is None:
                self.refilling = asyncio.create_task(self._refill())
            await asyncio.shield(self.refilling)
        self.tokens -= 1

    async def _refill(self) -> None:
        try:
            self.tokens += await self.runner.rate_grant(self.id, self.cfg.rateLimit or 1.0, self.share)
        except RedisError as exc:
            log.warning("batch %s: rate limit check failed: %s", self.id, exc)
            await asyncio.sleep(0.5)
        finally:
            self.refilling = None

    async def _worker(self, index: int) -> None:
        pool, slots, cfg = self.runner.pool, self.runner.slots, self.cfg
        origin, head, timeout = self.origin, self.head, self.timeout
        limited = bool(cfg.rateLimit)
        clock = time.perf_counter
        while index < self.share:
            item = self.ready.popleft() if self.ready else await self._next()
            if self.cancelled or self.refused:
                if self.refused:
                    self._result(item, FAILED, 0, -1, self.refused)
                else:
                    self._done(item.chunk)
                continue
            if limited:
                await self._permit()
            self.inflight += 1
            item.attempts += 1
            if not slots.take():
                await slots.wait()
            started = clock()
            try:
                status, excerpt = await pool.request(origin, head, item.body, timeout)
                error = None
            except HttpError as exc:
                status, excerpt, error = 0, b"", f"{exc.kind}: {exc}"
            except OSError as exc:
                status, excerpt, error = 0, b"", f"connect: {exc}"
            finally:
                slots.give()
                self.inflight -= 1
            latency = int((clock() - started) * 1_000_000)
            if 200 <= status < 300:
                self.results.append(pack_report(item.seq, DELIVERED, item.attempts, status, latency,
                                                bucket(latency)))
                self._done(item.chunk)
            elif (status == 0 or status >= 500 or status == 429) and item.attempts <= cfg.retries:
                # Timeouts, connection errors, 429 and 5xx are worth another try; other 4xx are final.
                delay = min(MAX_BACKOFF_S, cfg.backoffMs / 1000.0 * 2 ** (item.attempts - 1))
                self.waiting += 1
                asyncio.get_running_loop().call_later(delay * random.uniform(0.5, 1.0), self._retry_later, item)
            else:
                self._result(item, FAILED, status, latency if status else -1,
                             error or excerpt.decode("utf-8", "replace"))
            if len(self.ready) + self.inflight + self.waiting < 2 * self.share:
                self.room.set()

    def _result(self, item: Item, state: int, status: int, latency: int, error: str | None) -> None:
        self.results.append(pack_report(item.seq, state, max(item.attempts, 1), status, latency,
                                        bucket(latency) if latency >= 0 else 0))
        if state == FAILED:
            self.failures.append((item.seq, orjson.dumps({
                "id": orjson.Fragment(item.rid), "status": status or None, "error": (error or "")[:500],
                "attempts": item.attempts, "latencyMs": round(latency / 1000, 3) if latency >= 0 else None,
                "at": int(time.time() * 1000)})))
        self._done(item.chunk)

    def _done(self, chunk: Chunk) -> None:
        chunk.left -= 1
        if chunk.left <= 0:
            self._ack(chunk)
        elif not self.flush_wanted.is_set():
            self.flush_wanted.set()

    def _ack(self, chunk: Chunk) -> None:
        self.acks.append(chunk.eid)
        self.flush_wanted.set()

    async def _flush_loop(self) -> None:
        while True:
            await self.flush_wanted.wait()
            if len(self.results) < FLUSH_MAX:
                await asyncio.sleep(FLUSH_SECONDS)
            self.flush_wanted.clear()
            try:
                await self._flush()
            except RedisError as exc:
                log.warning("batch %s: result flush failed (will retry): %s", self.id, exc)
                await asyncio.sleep(1.0)
                self.flush_wanted.set()

    async def _flush(self) -> None:
        if not (self.results or self.acks):
            return
        results, failures, acks = self.results, self.failures, self.acks
        self.results, self.failures, self.acks = [], [], []
        args: list[Any] = [keys.BATCH_GROUP, int(time.time() * 1000), self.runner.ttl, EVENT_STREAM_MAXLEN,
                           PROGRESS_EVERY_MS, self.id, b"".join(results), len(failures)]
        for seq, doc in failures:
            args += [seq, doc]
        args.append(len(acks))
        args.extend(acks)
        try:
            reply = await self.runner.scripts.finalize(keys=[
                keys.batch(self.id), self.stream, keys.batch_results(self.id), keys.batch_failed(self.id),
                keys.batch_hist(self.id), keys.events(self.owner), keys.batch_tick(self.id),
                keys.active_batches()], args=args)
        except BaseException:
            # Not known to be written (an error, or a cancelled flush at shutdown): report again later. If it was
            # written after all, the slots are already final and a repeat counts nothing twice.
            self.results[:0], self.failures[:0], self.acks[:0] = results, failures, acks
            raise
        for eid in acks:
            self.held.pop(eid, None)
        if reply[3] == b"cancelled" and not self.cancelled:
            self.cancel()  # sooner than the next discovery round
        self.room.set()
