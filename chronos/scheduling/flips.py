"""Writing monitoring changes: the job's state, its ``monitor`` fields, the flip log and the deadlines.

``transact`` reads the job under WATCH, asks a pure function from ``chronos.scheduling.monitor`` for the
change, and writes it in MULTI/EXEC, retrying when the job changed in between (an execution was recorded,
or another scheduler moved it first). ``transact_many`` does the same for the list of changes a batch of
events causes (``monitor.fold_executions``): one transaction per job, however many events. So each
transition is decided once, by one process, on the latest document: two schedulers never both alert for
the same incident.
"""
from __future__ import annotations

import logging
import random
import time
from typing import Any, Callable

import orjson
from redis import Redis
from redis.client import Pipeline
from redis.exceptions import WatchError

from chronos import keys
from chronos.scheduling import claims
from chronos.scheduling.monitor import Change
from chronos.scheduling.triggers import STATE_EVENT, Emitter

log = logging.getLogger(__name__)

FLIPS_MAX = 1000
MAX_ATTEMPTS = 8

Decide = Callable[[dict[str, Any]], "Change | None"]
DecideMany = Callable[[dict[str, Any]], "list[Change]"]
Also = Callable[[Pipeline], None]


def write(pipe: Pipeline, emitter: Emitter, job: dict[str, Any], change: Change) -> None:
    """Queue the writes of ``change`` on ``pipe``."""
    owner, job_id = job["owner"], job["id"]
    member = claims.deadline_member(owner, job_id)
    mon_patch = dict(change.patch)
    if "expectDue" in mon_patch:  # the expectation lives beside the document (cheaper than a JSON write)
        due = mon_patch.pop("expectDue")
        if due is None:
            pipe.hdel(keys.sched_expect(), member)
        else:
            pipe.hset(keys.sched_expect(), member, due)
    patch: dict[str, Any] = {}
    if mon_patch:
        patch["monitor"] = mon_patch
    flipped = change.to != change.frm
    if flipped:
        patch["state"] = change.to
        patch["stateSince"] = change.at
    if patch:
        pipe.execute_command("JSON.MERGE", keys.job(owner, job_id), "$", orjson.dumps(patch))
    if change.clear_deadline:
        pipe.zrem(keys.sched_deadlines(), member)
    if change.deadline_at is not None:
        pipe.zadd(keys.sched_deadlines(), {member: change.deadline_at})
    if flipped:
        pipe.lpush(keys.flips(owner, job_id), orjson.dumps(change.flip()))
        pipe.ltrim(keys.flips(owner, job_id), 0, FLIPS_MAX - 1)
        emitter.emit(owner, STATE_EVENT, {"jobId": job_id, **change.flip()}, pipe=pipe)


def transact(r: Redis, emitter: Emitter, owner: str, job_id: str,
             decide: Decide) -> tuple[dict[str, Any], Change] | None:
    """Apply ``decide(job)`` atomically. Returns (job as read, change) when something was written."""
    def one(job: dict[str, Any]) -> list[Change]:
        change = decide(job)
        return [change] if change is not None else []

    done = transact_many(r, emitter, owner, job_id, one)
    return (done[0], done[1][0]) if done is not None and done[1] else None


def transact_many(r: Redis, emitter: Emitter, owner: str, job_id: str, decide: DecideMany, *,
                  also: Also | None = None) -> tuple[dict[str, Any], list[Change]] | None:
    """Apply the changes ``decide(job)`` returns, in order, in one transaction, with the further writes
    ``also`` queues (written even when there is no change). Returns (job as read, changes written), or None
    when the job does not exist (or kept changing through every attempt)."""
    key = keys.job(owner, job_id)
    for attempt in range(MAX_ATTEMPTS):
        with r.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(key)
                raw = pipe.execute_command("JSON.GET", key)
                if not raw:
                    return None
                job = orjson.loads(raw)
                # The claim script changes the job document whenever it opens an expectation, so
                # watching the document covers the expectation read here as well.
                expect = pipe.hget(keys.sched_expect(), claims.deadline_member(owner, job_id))
                job["monitor"] = {**(job.get("monitor") or {}), "expectDue": int(expect) if expect else None}
                changes = decide(job)
                if not changes and also is None:
                    pipe.unwatch()
                    return job, []
                pipe.multi()
                for change in changes:
                    write(pipe, emitter, job, change)
                if also is not None:
                    also(pipe)
                pipe.execute()
                return job, changes
            except WatchError:
                # The job changed under us (an execution, another scheduler): back off a little, decide again.
                time.sleep(random.uniform(0.002, 0.02) * (attempt + 1))
                continue
    log.info("gave up updating the monitoring state of %s/%s after %d attempts", owner, job_id, MAX_ATTEMPTS)
    return None


def list_flips(r: Redis, owner: str, job_id: str, offset: int = 0, limit: int = 100) -> list[dict[str, Any]]:
    """The job's state changes, newest first."""
    return [orjson.loads(x) for x in r.lrange(keys.flips(owner, job_id), offset, offset + limit - 1)]


def count_flips(r: Redis, owner: str, job_id: str) -> int:
    return int(r.llen(keys.flips(owner, job_id)))
