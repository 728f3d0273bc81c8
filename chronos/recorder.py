"""The recorder: a thread in each web worker that records the batches queued by queued ingestion.

It reads the ingest queue in its consumer group (``chronos.store.ingest_queue``), records each entry with the
time the batch was acknowledged, then acknowledges and deletes it. After an error it first finishes the
entries it was given and did not acknowledge; every ``RECLAIM_EVERY_S`` it takes over entries a dead
recorder left pending. Redis being away only pauses it: it retries with a capped backoff,
and what was acknowledged stays in the queue until it is recorded.
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
from redis.exceptions import RedisError

from chronos.config import Settings
from chronos.store import ingest_queue
from chronos.store.lua import Scripts
from chronos.store.recording import record

log = logging.getLogger(__name__)

READ_COUNT = 8  # entries per read: an owner's batches among them are recorded together
RECLAIM_EVERY_S = 5.0


class Recorder:
    """Records queued batches until ``stop()``. ``run_once`` is one round (what the thread loops on)."""

    def __init__(self, r: Redis, scripts: Scripts, settings: Settings, name: str | None = None,
                 block_ms: int = 1000, reclaim_ms: int = ingest_queue.RECLAIM_MS, lock_path: Path | None = None) -> None:
        self.r, self.scripts, self.settings = r, scripts, settings
        self.lock_path = lock_path
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{threading.get_ident() % 100_000}"
        self.block_ms, self.reclaim_ms = block_ms, reclaim_ms
        self.recorded = 0  # executions this recorder stored (duplicates included)
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
        by_owner: dict[str, list[ingest_queue.Entry]] = {}
        for entry in entries:
            by_owner.setdefault(entry.owner, []).append(entry)
        count = 0
        for owner, mine in by_owner.items():
            # One owner's batches together: a job's runs in several batches then share one job update and one
            # add per series bucket (fewer Redis commands per execution than batch by batch).
            events = [ev for e in mine for ev in e.events]
            record(self.r, self.scripts, owner, events, self.settings, received_ms=max(e.received_ms for e in mine),
                   received=[e.received_ms for e in mine for _ in e.events])
            ingest_queue.done(self.r, [e.id for e in mine])
            count += len(events)
        self.recorded += count
        return count

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
                delay = 0.1
            except RedisError as exc:
                self._own_pending = True
                if "NOGROUP" in str(exc):
                    self._group_ready = False  # Redis came back without the queue (no AOF): make it again
                log.warning("recorder %s: %s; retrying in %.1f s", self.name, exc, delay)
                self._stop.wait(delay)
                delay = min(5.0, delay * 2)
            except Exception:  # a bug must not stop recording for good: log it and go on after a pause (the
                # entry stays pending and is retried when reclaimed, without holding up the entries after it)
                log.exception("recorder %s failed; retrying", self.name)
                self._stop.wait(1.0)
