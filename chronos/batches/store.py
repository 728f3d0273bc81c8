"""Batch storage: create, append records, seal, cancel, retry failed records, and read them back.

Everything a batch has lives under ``chr:batch:<id>`` (see ``chronos.keys``) and expires
``CHRONOS_BATCH_RETENTION_DAYS`` after its last activity. A batch belongs to one owner; reads for another
owner find nothing.
"""
from __future__ import annotations

import secrets
import uuid
from typing import Any, Iterable, Iterator

import orjson
from redis import Redis

from chronos import keys
from chronos.batches import stats
from chronos.batches.lua import BatchScripts
from chronos.batches.model import (ENTRY_RECORDS, FAILED, SLOT_BYTES, STATE_NAMES, BatchConfig, pack_records,
                                   unpack_records, unpack_results)
from chronos.timeutil import now_ms

EVENT_STREAM_MAXLEN = 10_000
PROGRESS_EVERY_MS = 250  # at most four batch:progress events per second and batch
REJECTED_KEPT = 1000
SCAN_BLOCK = 4096
RETRY_LOCK_MS = 600_000


def new_batch_id() -> str:
    return f"job-{uuid.uuid4()}"


def valid_batch_id(value: str) -> bool:
    return value.startswith("job-") and len(value) == 40 and all(c in "0123456789abcdef-" for c in value[4:])


def decode(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}


def create(r: Redis, owner: str, config: BatchConfig, ttl: int) -> str:
    """A new queued batch (receiving its records); runners see it at once."""
    batch_id = new_batch_id()
    now = now_ms()
    doc = config.model_dump()
    doc["url"] = config.url
    doc["port"] = config.effective_port
    pipe = r.pipeline(transaction=True)
    pipe.hset(keys.batch(batch_id), mapping={
        "id": batch_id, "owner": owner, "state": "queued", "config": orjson.dumps(doc), "createdAt": now,
        "total": 0, "delivered": 0, "failed": 0, "retries": 0, "duplicates": 0, "rejectedLines": 0,
        "sealed": 0, "round": 0,
    })
    pipe.expire(keys.batch(batch_id), ttl)
    pipe.xgroup_create(keys.batch_records(batch_id), keys.BATCH_GROUP, id="0", mkstream=True)
    pipe.expire(keys.batch_records(batch_id), ttl)
    pipe.zremrangebyscore(keys.owner_batches(owner), "-inf", now - ttl * 1000)
    pipe.zadd(keys.owner_batches(owner), {batch_id: now})
    pipe.expire(keys.owner_batches(owner), ttl)
    if config.primarykey:
        pipe.set(keys.batch_by_primarykey(owner, config.primarykey), batch_id, ex=ttl)
    pipe.sadd(keys.active_batches(), batch_id)
    pipe.execute()
    return batch_id


def add_rejected(r: Redis, batch_id: str, rejected: list[dict[str, Any]], ttl: int) -> None:
    """Record rejected lines (the first ``REJECTED_KEPT`` are kept, all are counted)."""
    if not rejected:
        return
    pipe = r.pipeline(transaction=False)
    pipe.rpush(keys.batch_rejected(batch_id), *[orjson.dumps(x) for x in rejected])
    pipe.ltrim(keys.batch_rejected(batch_id), 0, REJECTED_KEPT - 1)
    pipe.expire(keys.batch_rejected(batch_id), ttl)
    pipe.hincrby(keys.batch(batch_id), "rejectedLines", len(rejected))
    pipe.execute()


def seal(r: Redis, scripts: BatchScripts, batch_id: str, owner: str, id_buckets: int = 0) -> str:
    """The records are all in: the batch may finish. Drops the duplicate-id sets. Returns the state."""
    if id_buckets:
        for start in range(0, id_buckets, 1000):
            r.unlink(*[keys.batch_ids(batch_id, b) for b in range(start, min(id_buckets, start + 1000))])
    state = scripts.seal(keys=[keys.batch(batch_id), keys.active_batches(), keys.events(owner)],
                         args=[now_ms(), batch_id, EVENT_STREAM_MAXLEN])
    return state.decode() if isinstance(state, bytes) else str(state)


def cancel(r: Redis, scripts: BatchScripts, batch_id: str, owner: str, note: str | None = None) -> bool:
    """Stop a queued or running batch; records not yet final count as cancelled. False when already over."""
    done = scripts.cancel(keys=[keys.batch(batch_id), keys.active_batches(), keys.events(owner)],
                          args=[now_ms(), batch_id, EVENT_STREAM_MAXLEN])
    if done and note:
        r.hset(keys.batch(batch_id), "note", note)
    return bool(done)


class RetryRefused(Exception):
    """retry-failed is not possible now (``reason`` says why)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def retry_failed(r: Redis, scripts: BatchScripts, batch_id: str, owner: str) -> int:
    """Send a completed batch's failed records again (as a new round). Returns how many were requeued."""
    token = secrets.token_hex(8)
    lock = keys.batch_lock(batch_id)
    rnd = int(scripts.begin_retry(keys=[keys.batch(batch_id), keys.active_batches(), lock],
                                  args=[token, RETRY_LOCK_MS]))
    if rnd == -1:
        raise RetryRefused("only a completed batch can retry its failed records")
    if rnd == -2:
        raise RetryRefused("a retry of this batch is already being set up")
    if rnd == 0:
        return 0
    count = 0
    try:
        failed = sorted(int(s) for s in r.hkeys(keys.batch_failed(batch_id)))
        todo = list(_records_of(r, batch_id, failed))
        for n, start in enumerate(range(0, len(todo), ENTRY_RECORDS), start=1):
            count += int(scripts.requeue(
                keys=[keys.batch(batch_id), keys.batch_records(batch_id), keys.batch_results(batch_id),
                      keys.batch_failed(batch_id)],
                args=[f"{rnd}-{n}", pack_records(todo[start:start + ENTRY_RECORDS])]))
    finally:
        seal(r, scripts, batch_id, owner)
        scripts.release(keys=[lock], args=[token])
    return count


# ---- reads ----------------------------------------------------------------------------------------

def load(r: Redis, batch_id: str, owner: str | None) -> dict[str, str] | None:
    """The batch's hash, or None when it does not exist or belongs to another owner (``owner`` None: any)."""
    if not valid_batch_id(batch_id):
        return None
    raw = decode(r.hgetall(keys.batch(batch_id)))
    if not raw or (owner is not None and raw.get("owner") != owner):
        return None
    return raw


def hist_of(r: Redis, batch_id: str) -> dict[int, int]:
    return {int(k): int(v) for k, v in r.hgetall(keys.batch_hist(batch_id)).items()}


def view(r: Redis, batch_id: str, owner: str | None) -> dict[str, Any] | None:
    raw = load(r, batch_id, owner)
    return None if raw is None else stats.summary(raw, hist_of(r, batch_id), detail=True)


def find(r: Redis, owner: str, key: str) -> str | None:
    """A batch id from a job id or (the Go service's habit) the caller's primarykey."""
    if load(r, key, owner) is not None:
        return key
    found = r.get(keys.batch_by_primarykey(owner, key))
    return found.decode() if found else None


def list_batches(r: Redis, owner: str, *, limit: int = 50, offset: int = 0,
                 state: str | None = None) -> tuple[list[dict[str, Any]], int]:
    """The owner's batches, newest first, and how many there are."""
    zkey = keys.owner_batches(owner)
    ids = [i.decode() for i in r.zrevrange(zkey, 0, -1)] if state else \
        [i.decode() for i in r.zrevrange(zkey, offset, offset + limit - 1)]
    pipe = r.pipeline(transaction=False)
    for batch_id in ids:
        pipe.hgetall(keys.batch(batch_id))
        pipe.hgetall(keys.batch_hist(batch_id))
    replies = pipe.execute()
    out = []
    for i in range(len(ids)):
        raw = decode(replies[2 * i])
        if not raw or raw.get("owner") != owner or (state and raw.get("state") != state):
            continue
        out.append(stats.summary(raw, {int(k): int(v) for k, v in replies[2 * i + 1].items()}))
    if state:
        return out[offset:offset + limit], len(out)
    return out, int(r.zcard(zkey))


def rejected_lines(r: Redis, batch_id: str, limit: int = 100) -> list[dict[str, Any]]:
    """The first kept rejected lines, in line order (duplicate ids are found a chunk later than other errors)."""
    found = [orjson.loads(x) for x in r.lrange(keys.batch_rejected(batch_id), 0, REJECTED_KEPT - 1)]
    return sorted(found, key=lambda x: x["line"])[:limit]


def _records_of(r: Redis, batch_id: str, seqs: list[int]) -> Iterator[tuple[int, bytes, bytes]]:
    """(seq, id JSON, body) of each of ``seqs`` (ascending), read from the round-0 chunks that hold them."""
    stream = keys.batch_records(batch_id)
    chunk: dict[int, tuple[bytes, bytes]] = {}
    last = -1
    for seq in seqs:
        if seq not in chunk and seq > last:
            found = r.xrevrange(stream, f"0-{seq + 1}", "-", count=1)
            if not found:
                continue
            recs = unpack_records(found[0][1][b"r"])
            chunk = {s: (rid, body) for s, rid, body in recs}
            last = recs[-1][0] if recs else seq
        if seq in chunk:
            yield (seq, *chunk[seq])


def _ids(r: Redis, batch_id: str, seqs: Iterable[int]) -> dict[int, Any]:
    return {seq: orjson.loads(rid) for seq, rid, _ in _records_of(r, batch_id, sorted(seqs))}


def records(r: Redis, raw: dict[str, str], status: str, after: int, limit: int) -> tuple[list[dict], int | None]:
    """One page of a batch's records with their outcome; ``status`` is failed, delivered, pending or all.

    Pages follow record order; pass the returned cursor as ``after`` for the next page (None: no more).
    """
    batch_id, total = raw["id"], int(raw.get("total") or 0)
    cancelled = raw.get("state") == "cancelled"
    picked: list[tuple[int, int, int, int, int]] = []
    more = False
    if status == "failed":
        seqs = sorted(s for s in (int(x) for x in r.hkeys(keys.batch_failed(batch_id))) if s > after)
        more = len(seqs) > limit
        seqs = seqs[:limit]
        slots = r.pipeline(transaction=False)
        for seq in seqs:
            slots.getrange(keys.batch_results(batch_id), seq * SLOT_BYTES, seq * SLOT_BYTES + SLOT_BYTES - 1)
        for seq, slot in zip(seqs, slots.execute()):
            picked.extend(unpack_results(slot.ljust(SLOT_BYTES, b"\0"), seq))
    else:
        wanted = {"delivered": {1}, "pending": {0}, "all": {0, 1, 2}}[status]
        seq = after + 1
        while seq < total and len(picked) <= limit:
            end = min(total, seq + SCAN_BLOCK)
            block = r.getrange(keys.batch_results(batch_id), seq * SLOT_BYTES, end * SLOT_BYTES - 1)
            block = block.ljust((end - seq) * SLOT_BYTES, b"\0")
            picked.extend(x for x in unpack_results(block, seq) if x[1] in wanted)
            seq = end
        more = len(picked) > limit
        picked = picked[:limit]
    ids = _ids(r, batch_id, (p[0] for p in picked))
    failures = {}
    failed_seqs = [p[0] for p in picked if p[1] == FAILED]
    if failed_seqs:
        for seq, doc in zip(failed_seqs, r.hmget(keys.batch_failed(batch_id), failed_seqs)):
            failures[seq] = orjson.loads(doc) if doc else {}
    out = []
    for seq, state, attempts, code, lat in picked:
        name = "cancelled" if state == 0 and cancelled else STATE_NAMES[state]
        item: dict[str, Any] = {"seq": seq, "id": ids.get(seq), "status": name,
                                "httpStatus": code or None, "attempts": attempts,
                                "latencyMs": round(lat / 1000, 3) if state else None}
        if state == FAILED:
            item["error"] = failures.get(seq, {}).get("error")
        out.append(item)
    cursor = picked[-1][0] if more and picked else None
    return out, cursor
