"""The recorder: a thread in each web worker that records the batches queued by queued ingestion.

It reads the ingest queue in its consumer group (``chronos.store.ingest_queue``), records each entry with the
time the batch was acknowledged, then acknowledges and deletes it. After an error it first finishes the
entries it was given and did not acknowledge; every ``RECLAIM_EVERY_S`` it takes over entries a dead
recorder left pending. Redis being away only pauses it: it retries with a capped backoff,
and what was acknowledged stays in the queue until it is recorded. Any other failure (a bug, a script error)
is one entry's: the others read with it are recorded one by one, and the failing entry is tried again after a
pause until ``ingest_queue.MAX_DELIVERIES``, then dead-lettered so that it no longer holds up the queue.
"""
from __future__ import annotations

import fcntl
import logging
import os
import socket
import threading
import time

from pathlib import Path

from redis import Redis
from redis import exceptions as rx
from redis.exceptions import RedisError, ResponseError

from chronos.config import Settings
from chronos.store import ingest_queue
from chronos.store.lua import Scripts
from chronos.store.recording import record

log = logging.getLogger(__name__)

READ_COUNT = 8  # entries per read: an owner's batches among them are recorded together
RECLAIM_EVERY_S = 5.0
# Errors that say Redis is away or refusing writes for now, not that an entry is bad: they pause the recorder
# and never count towards dead-lettering. redis-py raises these classes for the replies' codes (OOM, READONLY,
# LOADING, ...) inside scripts too; "BUSY" (another script running too long) has no class of its own.
_TRANSIENT = (rx.ConnectionError, rx.TimeoutError, rx.OutOfMemoryError, rx.ReadOnlyError, rx.MasterDownError,
              rx.TryAgainError, rx.ClusterDownError)


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, _TRANSIENT) or (isinstance(exc, ResponseError) and str(exc).startswith("BUSY"))


class Recorder:
    """Records queued batches until ``stop()``. ``run_once`` is one round (what the thread loops on)."""

    def __init__(self, r: Redis, scripts: Scripts, settings: Settings, name: str | None = None,
                 block_ms: int = 1000, reclaim_ms: int = ingest_queue.RECLAIM_MS, lock_path: Path | None = None) -> None:
        self.r, self.scripts, self.settings = r, scripts, settings
        self.lock_path = lock_path
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{threading.get_ident() % 100_000}"
        self.block_ms, self.reclaim_ms = block_ms, reclaim_ms
        self.recorded = 0  # executions this recorder stored (duplicates included)
        self.failed = 0  # entries that failed to record in the last round (they are tried again)
        self.dead_lettered = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._group_ready = False
        self._own_pending = True  # first (and after an error) finish what this consumer was given earlier
        self._last_reclaim = 0.0

    def start(self) -> "Recorder":
        self._thread = threading.Thread(target=self._loop, name=f"recorder-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_once(self) -> int:
        """Record what is due: stale entries first, then new ones. Returns the executions recorded."""
        if not self._group_ready:
            ingest_queue.ensure_group(self.r)
            self._group_ready = True
        entries = []
        if self._own_pending:
            entries = ingest_queue.read(self.r, self.name, READ_COUNT, 0, own_pending=True)
            self._own_pending = bool(entries)
        if not entries and time.monotonic() - self._last_reclaim >= RECLAIM_EVERY_S:
            self._last_reclaim = time.monotonic()
            entries = ingest_queue.claim_stale(self.r, self.name, READ_COUNT, self.reclaim_ms)
        if not entries:
            entries = ingest_queue.read(self.r, self.name, READ_COUNT, self.block_ms)
        return self.record_entries(entries)

    def record_entries(self, entries: list[ingest_queue.Entry]) -> int:
        """Record entries this consumer was given, then acknowledge them; returns the executions recorded.
        Raises when Redis is away or refusing writes (the entries stay pending); any other failure is the
        failing entry's alone (counted in ``failed``, or dead-lettered after ``MAX_DELIVERIES``)."""
        by_owner: dict[str, list[ingest_queue.Entry]] = {}
        for entry in entries:
            by_owner.setdefault(entry.owner, []).append(entry)
        self.failed = 0
        # One owner's batches together: a job's runs in several batches then share one job update and one add per
        # series bucket (fewer Redis commands per execution than batch by batch).
        count = sum(self._record(owner, mine) for owner, mine in by_owner.items())
        if self.failed:
            self._own_pending = True  # the failed entries are this consumer's: try them again next round
        self.recorded += count
        return count

    def _record(self, owner: str, mine: list[ingest_queue.Entry]) -> int:
        events = [ev for e in mine for ev in e.events]
        try:
            record(self.r, self.scripts, owner, events, self.settings, received_ms=max(e.received_ms for e in mine),
                   received=[e.received_ms for e in mine for _ in e.events])
        except Exception as exc:
            if _transient(exc):
                raise
            if len(mine) > 1:  # one bad batch must not hold up the good ones read with it
                return sum(self._record(owner, [e]) for e in mine)
            self._failed(mine[0], exc)
            return 0
        ingest_queue.done(self.r, [e.id for e in mine])
        return len(events)

    def _failed(self, entry: ingest_queue.Entry, exc: Exception) -> None:
        tries = ingest_queue.deliveries(self.r, entry.id)
        if tries >= ingest_queue.MAX_DELIVERIES:
            ingest_queue.dead_letter(self.r, entry, f"{type(exc).__name__}: {exc}")
            self.dead_lettered += 1
            log.error("recorder %s: queued batch %s (%s, %d executions) failed %d times and was moved to the dead "
                      "letters: %s", self.name, entry.id.decode(), entry.owner, len(entry.events), tries, exc)
            return
        self.failed += 1
        log.warning("recorder %s: queued batch %s failed to record (try %d of %d): %r", self.name,
                    entry.id.decode(), tries, ingest_queue.MAX_DELIVERIES, exc, exc_info=tries == 1)

    def _exclusive(self) -> int | None:
        """With ``lock_path``: wait until this is the one recorder of the host (the web workers share the
        path; the lock goes with a process that dies). Returns the open lock file, or None when stopped."""
        assert self.lock_path is not None
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        while not self._stop.is_set():
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                self._stop.wait(0.5)
        os.close(fd)
        return None

    def _loop(self) -> None:
        fd = self._exclusive() if self.lock_path is not None else None
        try:
            self._work()
        finally:
            if fd is not None:
                os.close(fd)

    def _work(self) -> None:
        delay = 0.1
        while not self._stop.is_set():
            try:
                self.run_once()
                if self.failed:  # an entry failed: try it again after a growing pause, not in a tight loop
                    self._stop.wait(delay)
                    delay = min(5.0, delay * 2)
                else:
                    delay = 0.1
            except RedisError as exc:
                self._own_pending = True
                if "NOGROUP" in str(exc):
                    self._group_ready = False  # Redis came back without the queue (no AOF): make it again
                log.warning("recorder %s: %s; retrying in %.1f s", self.name, exc, delay)
                self._stop.wait(delay)
                delay = min(5.0, delay * 2)
            except Exception:  # a bug outside recording (recording's own are one entry's, above) must not stop
                # the recorder for good: log it and go on after a pause; what it was given stays pending
                self._own_pending = True
                log.exception("recorder %s failed; retrying", self.name)
                self._stop.wait(1.0)
