"""The ingest queue (``CHRONOS_INGEST_QUEUE``): acknowledged execution batches waiting to be recorded.

Queued ingestion answers a batch once it is validated and appended here (one ``XADD``, as durable as any
other write under the server's ``appendfsync``), so an ingest request never waits behind the recording of
other batches. The web workers' recorders (``chronos.recorder``) read the stream in the consumer group
``keys.INGEST_GROUP``, record each entry with ``recording.record`` and then acknowledge and delete it. A
recorder that dies holding entries leaves them pending; another claims them once they have been idle for
``RECLAIM_MS``. Recording is idempotent by execId, so an entry recorded twice counts once.

An entry that fails to record ``MAX_DELIVERIES`` times for a reason other than Redis being away (a bug, an
error from a script) is moved, whole, to the dead-letter stream ``keys.ingest_dead()`` with the error, so that
it stops holding up the entries behind it; ``requeue_dead`` puts such entries back once the cause is fixed
(``chronos ingest-queue requeue``). The move is one transaction, so an entry is always in one of the two
streams; the dead letters keep the newest ``DEAD_MAXLEN`` (each is logged at ERROR when it arrives).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
from redis import Redis
from redis.exceptions import ResponseError

from chronos import keys
from chronos.store.lua import Scripts

RECLAIM_MS = 10_000  # an entry a recorder has held this long without acknowledging it is taken over
MAX_DELIVERIES = 10  # failed deliveries (reads, own re-reads and claims) before an entry is dead-lettered
DEAD_MAXLEN = 10_000  # dead-lettered entries kept; the oldest go first (each is also logged when it arrives)


@dataclass
class Entry:
    id: bytes
    owner: str
    received_ms: int
    events: list[dict[str, Any]]
    raw: bytes = b""  # the events as queued, moved unchanged to the dead-letter stream


def ensure_group(r: Redis) -> None:
    """Create the queue and its consumer group (from the first entry) unless they exist."""
    try:
        r.xgroup_create(keys.ingest_queue(), keys.INGEST_GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def enqueue(r: Redis, scripts: Scripts, owner: str, events: list[dict[str, Any]], received_ms: int,
            limit: int) -> bool:
    """Append a validated batch; False (nothing appended) when ``limit`` batches are already waiting."""
    reply = scripts.enqueue(keys=[keys.ingest_queue()], args=[limit, owner, received_ms, orjson.dumps(events)],
                            client=r)
    return reply not in (0, b"0", None)


def _entries(rows: list[Any]) -> list[Entry]:
    out = []
    for entry_id, fields in rows:
        if not fields:  # deleted while pending (XAUTOCLAIM reports such ids with no fields)
            continue
        raw = fields[b"events"]
        out.append(Entry(entry_id, fields[b"owner"].decode(), int(fields[b"at"]), orjson.loads(raw), raw))
    return out


def claim_stale(r: Redis, consumer: str, count: int, idle_ms: int = RECLAIM_MS) -> list[Entry]:
    """Entries another recorder has held over ``idle_ms`` without acknowledging them, now this consumer's."""
    reply = r.xautoclaim(keys.ingest_queue(), keys.INGEST_GROUP, consumer, idle_ms, start_id="0-0", count=count)
    return _entries(reply[1])


def read(r: Redis, consumer: str, count: int, block_ms: int, *, own_pending: bool = False) -> list[Entry]:
    """Up to ``count`` new entries for this consumer, waiting up to ``block_ms`` for the first; with
    ``own_pending``, the entries it was given before and has not acknowledged (after an error) instead."""
    reply = r.xreadgroup(keys.INGEST_GROUP, consumer, {keys.ingest_queue(): "0" if own_pending else ">"},
                         count=count, block=None if own_pending else block_ms)
    return _entries(reply[0][1]) if reply else []


def done(r: Redis, entry_ids: list[bytes]) -> None:
    """Acknowledge recorded entries and delete them (the queue holds only work not yet done)."""
    if entry_ids:
        pipe = r.pipeline(transaction=True)
        pipe.xack(keys.ingest_queue(), keys.INGEST_GROUP, *entry_ids)
        pipe.xdel(keys.ingest_queue(), *entry_ids)
        pipe.execute()


def deliveries(r: Redis, entry_id: bytes) -> int:
    """How many times the entry was handed to a recorder (0 when it is no longer pending)."""
    rows = r.xpending_range(keys.ingest_queue(), keys.INGEST_GROUP, min=entry_id, max=entry_id, count=1)
    return int(rows[0]["times_delivered"]) if rows else 0


def dead_letter(r: Redis, entry: Entry, error: str) -> None:
    """Move an entry that keeps failing to the dead-letter stream, with the error, in one transaction."""
    pipe = r.pipeline(transaction=True)
    pipe.xadd(keys.ingest_dead(), {"owner": entry.owner, "at": entry.received_ms, "events": entry.raw,
                                   "error": error[:2000], "queuedId": entry.id},
              maxlen=DEAD_MAXLEN, approximate=True)
    pipe.xack(keys.ingest_queue(), keys.INGEST_GROUP, entry.id)
    pipe.xdel(keys.ingest_queue(), entry.id)
    pipe.execute()


def dead(r: Redis, count: int = 100) -> list[dict[str, Any]]:
    """The newest dead-lettered entries: ``{"id", "owner", "receivedMs", "executions", "error"}``."""
    return [{"id": eid.decode(), "owner": f[b"owner"].decode(), "receivedMs": int(f[b"at"]),
             "executions": len(orjson.loads(f[b"events"])), "error": f.get(b"error", b"").decode(errors="replace")}
            for eid, f in r.xrevrange(keys.ingest_dead(), count=count)]


def requeue_dead(r: Redis, count: int = 1000) -> int:
    """Put up to ``count`` dead-lettered entries back in the queue (oldest first), each in one transaction
    with its removal from the dead letters. Returns how many were put back."""
    moved = 0
    for eid, fields in r.xrange(keys.ingest_dead(), count=count):
        pipe = r.pipeline(transaction=True)
        pipe.xadd(keys.ingest_queue(), {k: fields[k] for k in (b"owner", b"at", b"events")})
        pipe.xdel(keys.ingest_dead(), eid)
        pipe.execute()
        moved += 1
    return moved


def backlog(r: Redis, now: int) -> dict[str, int]:
    """``{"batches": waiting or being recorded, "oldestMs": age of the oldest of them (0 when none),
    "dead": dead-lettered entries}``."""
    pipe = r.pipeline(transaction=False)
    pipe.xlen(keys.ingest_queue())
    pipe.xrange(keys.ingest_queue(), count=1)
    pipe.xlen(keys.ingest_dead())
    length, first, dead_count = pipe.execute()
    oldest = 0
    if first:
        oldest = max(0, now - int(first[0][1].get(b"at", now)))
    return {"batches": int(length), "oldestMs": oldest, "dead": int(dead_count)}


def wait_empty(r: Redis, timeout: float, poll: float = 0.05) -> tuple[bool, float]:
    """Wait until the recorders have emptied the queue, up to ``timeout`` seconds.
    Returns (emptied, seconds waited)."""
    start = time.monotonic()
    while r.xlen(keys.ingest_queue()):
        if time.monotonic() - start >= timeout:
            return False, time.monotonic() - start
        time.sleep(poll)
    return True, time.monotonic() - start
