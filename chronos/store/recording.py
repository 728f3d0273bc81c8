"""Recording execution events: one atomic script call per chunk of a batch.

The script (``chronos.store.lua.RECORD_BATCH``) stores each execution idempotently by execId and then writes
what the chunk changed *once*: one ``JSON.MERGE`` per job (its last run, counters and consecutive failures
folded in order), one ``TS.ADD`` per series bucket the chunk touched (sums and maxima added up in the script),
one ``XADD`` per stored event and one ``PUBLISH`` per chunk. A batch of 100 runs of 50 jobs writes ~765
samples instead of 3,000 and 50 job updates instead of ~350, which is what lets one Redis core keep up with
thousands of executions per second (figures in docs/scaling.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from redis import Redis

from chronos import keys
from chronos.config import Settings
from chronos.store import jobs as job_store
from chronos.store.lua import Scripts
from chronos.telemetry import FAILURE_STATUSES, build_execution, event_summary
from chronos.timeutil import now_ms

EVENT_STREAM_MAXLEN = 10_000
CHUNK = 250  # executions per script call: bounds how long one call holds Redis (~25-40 ms)
OUTCOMES = {"c": "created", "f": "finished", "d": "duplicate"}


@dataclass
class RecordResult:
    created: int = 0
    finished: int = 0
    duplicates: int = 0
    jobs_created: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return self.created + self.finished

    def to_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "created": self.created, "finished": self.finished,
                "duplicates": self.duplicates, "jobsCreated": self.jobs_created}


def series_keys(owner: str, scope: str) -> list[str]:
    """The 15 metric series of one scope (a job id or ``_all``), in the order the record script expects."""
    return [keys.series(owner, scope, metric, tier) for metric in keys.METRICS for tier in keys.TIERS]


def _last_error(doc: dict[str, Any]) -> bytes:
    """The job's ``lastError`` this run brings, JSON-encoded, or nothing."""
    if doc["status"] in FAILURE_STATUSES and doc.get("errorMessage"):
        return orjson.dumps(doc["errorMessage"][:500])
    return b""


def record(r: Redis, scripts: Scripts, owner: str, events: list[dict[str, Any]],
           settings: Settings, *, received_ms: int | None = None, received: list[int] | None = None,
           chunk_size: int = CHUNK) -> RecordResult:
    """Store validated execution events (times in epoch ms). Safe to call again with the same events:
    an execution already finished is left as it is and counted once, whatever arrives later.

    ``received_ms`` is when the server accepted them (now by default), or ``received`` the time of each event
    (the queue's recorders pass the times their batches were acknowledged); ``chunk_size`` bounds the
    executions per script call."""
    now = now_ms() if received_ms is None else received_ms
    known = job_store.get_many(r, owner, [e["jobId"] for e in events])
    header = [settings.retention_seconds, EVENT_STREAM_MAXLEN, now,
              *(keys.TIER_MS[t] for t in keys.TIERS),
              *(days * 86_400_000 for days in (settings.chronos_ts_raw_days, settings.chronos_ts_hourly_days,
                                               settings.chronos_ts_daily_days)),
              owner]
    next_runs: dict[str, int | None] = {}
    replies = []
    for start in range(0, len(events), chunk_size):
        chunk = events[start:start + chunk_size]
        job_ids: list[str] = list(dict.fromkeys(e["jobId"] for e in chunk))
        slot = {job_id: i + 1 for i, job_id in enumerate(job_ids)}
        exec_keys, exec_args = [], []
        for k, ev in enumerate(chunk):
            job_id = ev["jobId"]
            job = known.get(job_id)
            doc = build_execution(ev, owner=owner, job_name=job.get("name", job_id) if job else job_id,
                                  received_ms=received[start + k] if received else now,
                                  max_log_bytes=settings.chronos_max_log_bytes)
            exec_keys.append(keys.execution(owner, doc["execId"]))
            exec_args += [orjson.dumps(doc), doc["status"], doc.get("finishedAt", 0), doc.get("durationMs", 0),
                          slot[job_id], doc["execId"], orjson.dumps(event_summary(doc)), _last_error(doc)]
        job_keys, job_args, skeys = [], [], []
        for job_id in job_ids:
            if job_id not in next_runs:
                # A job the scheduler fires keeps the nextRunAt the scheduler set (moving it here would
                # postpone a fire that is due but not yet claimed).
                job = known.get(job_id)
                managed = bool(job and isinstance(job.get("sched"), dict))
                next_runs[job_id] = job_store.compute_next_run(job, now) if job and not managed else None
            job_keys.append(keys.job(owner, job_id))
            next_run = next_runs[job_id]
            job_args += [job_id, orjson.dumps(job_store.new_job_doc(owner, job_id, registered=False, at_ms=now)),
                         "" if next_run is None else next_run]
            skeys += series_keys(owner, job_id)
        skeys += series_keys(owner, keys.ALL_JOBS_SCOPE)
        # One EVALSHA per chunk, in order (a pipeline would add a SCRIPT EXISTS round trip per request).
        replies.append(scripts.record_batch(
            keys=[keys.events(owner), *exec_keys, *job_keys, *skeys],
            args=[len(chunk), len(job_ids), *header, *job_args, *exec_args], client=r))
    result = RecordResult()
    for codes in replies:
        for code in codes.decode() if isinstance(codes, bytes) else codes:
            outcome = OUTCOMES[code]
            if outcome == "created":
                result.created += 1
            elif outcome == "finished":
                result.finished += 1
            else:
                result.duplicates += 1
    result.jobs_created = sorted({e["jobId"] for e in events if e["jobId"] not in known})
    return result
