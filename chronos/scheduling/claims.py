"""The atomic claim of due fires, with the dispatch of SDK triggers in the same step, and the fire log.

A claim is decided per job inside one Lua script (a page of jobs per call): it compares the job's
``sched.cursor`` with the cursor the claimer read (compare-and-set), creates the deterministic fire id
``<owner>:<jobId>:<due ms>`` if absent, advances the cursor and ``nextRunAt``, and only then dispatches:
the ``job:trigger`` entries of an SDK job go to its owner's stream (and the channel) in the same atomic
step, so a trigger is sent exactly when its fire is claimed — never twice, never lost to a crash in between.
Server-side jobs are dispatched by the caller after the claim (advance before dispatch, as celery beat does).

Two schedulers that read the same due job both try; the script lets exactly one through, because the
loser's expected cursor no longer matches. The fire-id key (short TTL) is a second line for a job deleted
and re-created under the same id while a stale claimer is still running.

A monitored job's claim also opens the expectation that a run will be reported: ``keys.sched_expect()``
(only when none is open: the earliest unreported fire is the one that goes late) and its deadline.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from redis import Redis
from redis.client import Pipeline

from chronos import keys
from chronos.scheduling.policy import Plan
from chronos.store.executions import EVENT_STREAM_MAXLEN

CLAIM_TTL_MS = 120_000
FIRE_LOG_MAX = 50
ARGS_PER_JOB = 7

# KEYS[1] deadlines zset, KEYS[2] expectations hash; then per job: doc, fire-id key, fire log, event stream.
# ARGV[1] fire-id TTL ms, ARGV[2] claimer id, ARGV[3] stream maxlen, ARGV[4] fire log length; then per job:
# expected cursor ('' = none), patch JSON, expected-run due ('' = not monitored), its deadline, the
# "<owner> <jobId>" member, fire-log entries and trigger payloads (each a newline-separated list of JSON).
# Returns one 0/1 per job: 1 where this caller claimed (and dispatched the triggers).
CLAIM = """
local out = {}
for i = 0, (#ARGV - 4) / 7 - 1 do
  local k, a, won = 2 + i * 4, 4 + i * 7, 0
  if redis.call('EXISTS', KEYS[k + 1]) == 1 then
    local cur = cjson.decode(redis.call('JSON.GET', KEYS[k + 1], '$.sched.cursor'))[1]
    if cur == cjson.null then cur = nil end
    local ok = (ARGV[a + 1] == '' and cur == nil) or (cur ~= nil and cur == tonumber(ARGV[a + 1]))
    if ok and redis.call('SET', KEYS[k + 2], ARGV[2], 'NX', 'PX', ARGV[1]) then
      won = 1
      redis.call('JSON.MERGE', KEYS[k + 1], '$', ARGV[a + 2])
      if ARGV[a + 3] ~= '' and redis.call('HSETNX', KEYS[2], ARGV[a + 5], ARGV[a + 3]) == 1 then
        redis.call('ZADD', KEYS[1], ARGV[a + 4], ARGV[a + 5])
      end
      for entry in string.gmatch(ARGV[a + 6], '[^\\n]+') do redis.call('LPUSH', KEYS[k + 3], entry) end
      redis.call('LTRIM', KEYS[k + 3], 0, tonumber(ARGV[4]) - 1)
      for data in string.gmatch(ARGV[a + 7], '[^\\n]+') do
        local id = redis.call('XADD', KEYS[k + 4], 'MAXLEN', '~', ARGV[3], '*', 'type', 'job:trigger', 'data', data)
        redis.call('PUBLISH', KEYS[k + 4], id)
      end
    end
  end
  out[#out + 1] = won
end
return out
"""


def fire_id(owner: str, job_id: str, due_ms: int) -> str:
    """The deterministic id of a job's fire at a due time."""
    return f"{owner}:{job_id}:{due_ms}"


def trigger_id(job_id: str, due_ms: int) -> str:
    """The id an SDK runner receives for a fire (and echoes back on the execution it reports)."""
    return f"{job_id}@{due_ms}"


def deadline_member(owner: str, job_id: str) -> str:
    return f"{owner} {job_id}"


def parse_deadline_member(member: bytes | str) -> tuple[str, str]:
    text = member.decode() if isinstance(member, bytes) else member
    owner, _, job_id = text.partition(" ")
    return owner, job_id


@dataclass
class ClaimRequest:
    job: dict[str, Any]
    plan: Plan
    fired_at: int
    expect_due: int | None = None   # monitored jobs: the due time a run is now expected for
    expect_deadline: int | None = None
    log: list[dict[str, Any]] = field(default_factory=list)       # fire-log entries, oldest first
    triggers: list[dict[str, Any]] = field(default_factory=list)  # job:trigger payloads to send


def cursor_of(job: dict[str, Any]) -> int | None:
    sched = job.get("sched")
    if isinstance(sched, dict) and isinstance(sched.get("cursor"), (int, float)):
        return int(sched["cursor"])
    return None


def _patch(req: ClaimRequest) -> bytes:
    sched: dict[str, Any] = {"cursor": req.plan.cursor, "lastFireAt": req.fired_at, "lastDue": req.plan.fires[-1].due}
    if req.plan.once_done:
        sched["onceFiredAt"] = req.fired_at
    return orjson.dumps({"sched": sched, "nextRunAt": req.plan.next_run_at})


def _lines(items: list[dict[str, Any]]) -> bytes:
    return b"\n".join(orjson.dumps(x) for x in items)


def claim_many(r: Redis, script: Any, requests: list[ClaimRequest], claimer: str, *, chunk: int = 250) -> list[bool]:
    """Claim each request's fires (dispatching its triggers); True where this caller won."""
    won: list[bool] = []
    for start in range(0, len(requests), chunk):
        part = requests[start:start + chunk]
        keys_: list[str] = [keys.sched_deadlines(), keys.sched_expect()]
        args: list[Any] = [CLAIM_TTL_MS, claimer, EVENT_STREAM_MAXLEN, FIRE_LOG_MAX]
        for req in part:
            owner, job_id = req.job["owner"], req.job["id"]
            keys_ += [keys.job(owner, job_id), keys.fire_claim(owner, job_id, req.plan.claim_due),
                      keys.fires(owner, job_id), keys.events(owner)]
            cur = cursor_of(req.job)
            args += ["" if cur is None else cur, _patch(req),
                     "" if req.expect_due is None else req.expect_due,
                     "" if req.expect_deadline is None else req.expect_deadline,
                     deadline_member(owner, job_id), _lines(req.log), _lines(req.triggers)]
        won += [bool(int(x)) for x in script(keys=keys_, args=args)]
    return won


def log_fires(pipe: Pipeline, owner: str, job_id: str, entries: list[dict[str, Any]]) -> None:
    """Append fire records (oldest first in ``entries``) to the job's capped fire log."""
    if entries:
        pipe.lpush(keys.fires(owner, job_id), *[orjson.dumps(e) for e in entries])
        pipe.ltrim(keys.fires(owner, job_id), 0, FIRE_LOG_MAX - 1)


def recent_fires(r: Redis, owner: str, job_id: str, limit: int = FIRE_LOG_MAX) -> list[dict[str, Any]]:
    """The job's latest fire records, newest first."""
    return [orjson.loads(x) for x in r.lrange(keys.fires(owner, job_id), 0, max(0, limit - 1))]
