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

*Claiming ahead*: an SDK job's next fire may be claimed a little before it is due (``ClaimRequest.release_at``).
The claim is the same atomic step, except that its triggers go to ``keys.sched_pending()`` (a sorted set scored by
the due time) instead of the stream; ``release_due`` moves the ones that are due to their streams, each
exactly once whichever scheduler gets there first (the member is removed in the same script that sends
it), and a scheduler that dies in between leaves them for the others. So the expensive part of a fire (the
document write, the fire log, the expectation) is done before the due time and only an ``XADD`` is left for it.
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
FIRE_LOG_SLACK = 10  # the log may grow this far past FIRE_LOG_MAX before a trim (one LTRIM per ten fires)
ARGS_PER_JOB = 8
RELEASE_BATCH = 1000

# KEYS[1] deadlines zset, KEYS[2] expectations hash, KEYS[3] pending triggers zset; then per job: doc,
# fire-id key, fire log, event stream.
# ARGV[1] fire-id TTL ms, ARGV[2] claimer id, ARGV[3] stream maxlen, ARGV[4] fire log length; then per job:
# expected cursor ('' = none), patch JSON, expected-run due ('' = not monitored), its deadline, the
# "<owner> <jobId>" member, fire-log entries and trigger payloads (each a newline-separated list of JSON),
# and when the triggers are due ('' = now: sent; else added to the pending set as "<stream>\n<payload>").
# Returns one 0/1 per job: 1 where this caller claimed (and dispatched the triggers).
# The fire log is trimmed once it is FIRE_LOG_SLACK entries over its length (readers take the newest), and
# each stream is published to once per call (a listener drains its stream on any wake-up).
CLAIM = """
local out, woke, keep = {}, {}, tonumber(ARGV[4])
for i = 0, (#ARGV - 4) / 8 - 1 do
  local k, a, won = 3 + i * 4, 4 + i * 8, 0
  local raw = redis.call('JSON.GET', KEYS[k + 1], '$.sched.cursor')
  if raw then
    local cur = cjson.decode(raw)[1]
    if cur == cjson.null then cur = nil end
    local ok = (ARGV[a + 1] == '' and cur == nil) or (cur ~= nil and cur == tonumber(ARGV[a + 1]))
    if ok and redis.call('SET', KEYS[k + 2], ARGV[2], 'NX', 'PX', ARGV[1]) then
      won = 1
      redis.call('JSON.MERGE', KEYS[k + 1], '$', ARGV[a + 2])
      if ARGV[a + 3] ~= '' and redis.call('HSETNX', KEYS[2], ARGV[a + 5], ARGV[a + 3]) == 1 then
        redis.call('ZADD', KEYS[1], ARGV[a + 4], ARGV[a + 5])
      end
      local n = 0
      for entry in string.gmatch(ARGV[a + 6], '[^\\n]+') do n = redis.call('LPUSH', KEYS[k + 3], entry) end
      if n > keep + FIRE_LOG_SLACK then redis.call('LTRIM', KEYS[k + 3], 0, keep - 1) end
      for data in string.gmatch(ARGV[a + 7], '[^\\n]+') do
        if ARGV[a + 8] == '' then
          woke[KEYS[k + 4]] = redis.call('XADD', KEYS[k + 4], 'MAXLEN', '~', ARGV[3], '*', 'type', 'job:trigger',
                                         'data', data)
        else
          redis.call('ZADD', KEYS[3], ARGV[a + 8], KEYS[k + 4] .. '\\n' .. data)
        end
      end
    end
  end
  out[#out + 1] = won
end
for stream, id in pairs(woke) do redis.call('PUBLISH', stream, id) end
return out
""".replace("FIRE_LOG_SLACK", str(FIRE_LOG_SLACK))

# KEYS[1] pending triggers zset, then the streams they go to. ARGV[1] stream maxlen; then per trigger: its
# member, the index of its stream in KEYS, its payload. Sends each trigger that is still pending (the ZREM
# decides, so two schedulers releasing the same ones send each once) and publishes once per stream.
# Returns how many this call sent.
RELEASE = """
local sent, woke = 0, {}
for i = 2, #ARGV, 3 do
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
    local stream = KEYS[tonumber(ARGV[i + 1])]
    woke[stream] = redis.call('XADD', stream, 'MAXLEN', '~', ARGV[1], '*', 'type', 'job:trigger', 'data', ARGV[i + 2])
    sent = sent + 1
  end
end
for stream, id in pairs(woke) do redis.call('PUBLISH', stream, id) end
return sent
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


@dataclass(slots=True)
class ClaimRequest:
    job: dict[str, Any]
    plan: Plan
    fired_at: int
    expect_due: int | None = None   # monitored jobs: the due time a run is now expected for
    expect_deadline: int | None = None
    release_at: int | None = None   # claimed ahead: when the triggers are due (None: send them now)
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
    patches: dict[tuple[int, int], bytes] = {}  # jobs that share a plan (most, on busy systems) share a patch
    for start in range(0, len(requests), chunk):
        part = requests[start:start + chunk]
        keys_: list[str] = [keys.sched_deadlines(), keys.sched_expect(), keys.sched_pending()]
        args: list[Any] = [CLAIM_TTL_MS, claimer, EVENT_STREAM_MAXLEN, FIRE_LOG_MAX]
        for req in part:
            owner, job_id = req.job["owner"], req.job["id"]
            keys_ += [keys.job(owner, job_id), keys.fire_claim(owner, job_id, req.plan.claim_due),
                      keys.fires(owner, job_id), keys.events(owner)]
            cur = cursor_of(req.job)
            memo = (id(req.plan), req.fired_at)
            patch = patches.get(memo)
            if patch is None:
                patch = patches[memo] = _patch(req)
            args += ["" if cur is None else cur, patch,
                     "" if req.expect_due is None else req.expect_due,
                     "" if req.expect_deadline is None else req.expect_deadline,
                     deadline_member(owner, job_id), _lines(req.log), _lines(req.triggers),
                     "" if req.release_at is None else req.release_at]
        won += [bool(int(x)) for x in script(keys=keys_, args=args)]
    return won


def release_due(r: Redis, script: Any, now: int, *, descending: bool = False, batch: int = RELEASE_BATCH) -> int:
    """Send the pending triggers due at ``now`` (see ``CLAIM``'s claiming ahead). Returns how many this call
    sent; ``descending`` takes the latest first (a second scheduler meets the first in the middle)."""
    sent = 0
    while True:
        if descending:
            members = r.zrevrangebyscore(keys.sched_pending(), now, "-inf", start=0, num=batch)
        else:
            members = r.zrangebyscore(keys.sched_pending(), "-inf", now, start=0, num=batch)
        if not members:
            return sent
        streams: dict[bytes, int] = {}
        args: list[Any] = [EVENT_STREAM_MAXLEN]
        for member in members:
            stream, _, data = member.partition(b"\n")
            args += [member, streams.setdefault(stream, len(streams) + 2), data]
        sent += int(script(keys=[keys.sched_pending(), *streams], args=args))
        if len(members) < batch:
            return sent


def pending_count(r: Redis) -> int:
    """How many triggers are claimed ahead and wait for their due time (shown on the admin page)."""
    return int(r.zcard(keys.sched_pending()))


def next_release(r: Redis) -> int | None:
    """When the earliest pending trigger is due, if any is."""
    first = r.zrange(keys.sched_pending(), 0, 0, withscores=True)
    return int(first[0][1]) if first else None


def log_fires(pipe: Pipeline, owner: str, job_id: str, entries: list[dict[str, Any]]) -> None:
    """Append fire records (oldest first in ``entries``) to the job's capped fire log."""
    if entries:
        pipe.lpush(keys.fires(owner, job_id), *[orjson.dumps(e) for e in entries])
        pipe.ltrim(keys.fires(owner, job_id), 0, FIRE_LOG_MAX - 1)


def recent_fires(r: Redis, owner: str, job_id: str, limit: int = FIRE_LOG_MAX) -> list[dict[str, Any]]:
    """The job's latest fire records (at most ``FIRE_LOG_MAX``), newest first."""
    limit = min(limit, FIRE_LOG_MAX)
    return [orjson.loads(x) for x in r.lrange(keys.fires(owner, job_id), 0, max(0, limit - 1))]
