"""Live events from the scheduler, and triggers for SDK-run jobs.

Every event goes where executions go (``chronos/store/lua.py``): an entry ``type``/``data`` in the owner's
bounded stream ``keys.events(owner)`` and a PUBLISH of the entry id on the channel of the same name, so
``GET /api/stream`` delivers it as ``event: <type>`` and ``Last-Event-ID`` replays it.

A trigger is ``job:trigger {jobId, triggerId, scheduledFor}``. A runner acknowledges it by reporting an
execution that carries the ``triggerId``; the scheduler notes the acknowledgement on the job
(``sched.lastAck``) and ``trigger_status`` answers from the executions index.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterable

import orjson
from redis import Redis
from redis.client import Pipeline

from chronos import keys, search
from chronos.store.executions import EVENT_STREAM_MAXLEN
from chronos.timeutil import to_iso

TRIGGER_EVENT = "job:trigger"
STATE_EVENT = "job:state"
ALERT_EVENT = "alert"

# KEYS[1] owner event stream (and its channel); ARGV[1] maxlen, ARGV[2] type, ARGV[3] data JSON.
EMIT = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'type', ARGV[2], 'data', ARGV[3])
redis.call('PUBLISH', KEYS[1], id)
return id
"""


class Emitter:
    """Appends live events for an owner (registered once per client)."""

    def __init__(self, r: Redis) -> None:
        self.script = r.register_script(EMIT)

    def emit(self, owner: str, kind: str, data: dict[str, Any], *, pipe: Pipeline | Redis) -> None:
        self.script(keys=[keys.events(owner)], args=[EVENT_STREAM_MAXLEN, kind, orjson.dumps(data)], client=pipe)

    def trigger(self, owner: str, job_id: str, trigger_id: str, due_ms: int, *, pipe: Pipeline | Redis) -> None:
        """Send the ``job:trigger`` event of one fire."""
        self.emit(owner, TRIGGER_EVENT, trigger_payload(job_id, trigger_id, due_ms), pipe=pipe)


def trigger_payload(job_id: str, trigger_id: str, due_ms: int) -> dict[str, Any]:
    return {"jobId": job_id, "triggerId": trigger_id, "scheduledFor": _scheduled_for(due_ms)}


# Thousands of jobs share a due time in one tick: format it once.
_scheduled_for = lru_cache(maxsize=1024)(to_iso)


def ack_patch(trigger_id: str, exec_id: str, at_ms: int) -> dict[str, Any]:
    """The job-document patch that records a trigger's acknowledgement."""
    return {"sched": {"lastAck": {"triggerId": trigger_id, "execId": exec_id, "at": at_ms}}}


def trigger_status(r: Redis, owner: str, trigger_ids: Iterable[str]) -> dict[str, str]:
    """triggerId -> execId of the execution that acknowledged it (absent ids are not acknowledged)."""
    ids = [t for t in trigger_ids if t]
    if not ids:
        return {}
    q = search.join([search.tag("owner", owner), search.tag("triggerId", ids)])
    res = r.execute_command("FT.SEARCH", keys.IDX_EXECUTIONS, q, "RETURN", 2, "$.triggerId", "$.execId",
                            "LIMIT", 0, len(ids) * 4, "DIALECT", 2)
    out: dict[str, str] = {}
    for i in range(1, len(res), 2):
        fields = dict(zip(res[i + 1][::2], res[i + 1][1::2]))
        tid = (fields.get(b"$.triggerId") or b"").decode()
        eid = (fields.get(b"$.execId") or b"").decode()
        if tid and tid not in out:
            out[tid] = eid
    return out
