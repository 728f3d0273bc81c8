"""One attempt of a server-side job, recorded like any ingested execution, and its retry.

Every attempt is an execution ``<triggerId>#<attempt>`` that goes through ``chronos.store.executions.record``
twice: ``running`` when it starts, then its final status. So server-side runs have the same documents,
metrics, live events and monitoring as SDK-reported ones.

Retries (``retry: {strategy, maxRetries, baseDelayMs}``): after failed attempt *n* (1-based) and while
*n* ≤ maxRetries, attempt *n+1* is queued in ``keys.sched_retries()`` after

* ``immediate``: no delay;
* ``linear``: ``baseDelayMs × n``;
* ``exponential``: ``baseDelayMs × 2^(n-1)``;

capped at one hour. Whichever scheduler removes the entry from the queue runs it (ZREM is the claim).
No two attempts of one job overlap unless the job says ``allowOverlap``: a token-owned lease
``keys.sched_running`` is taken first, and released by token.
"""
from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass
from typing import Any, Callable

import orjson
from redis import Redis

from chronos import keys
from chronos.config import Settings
from chronos.scheduling.runners import RUNNERS, Outcome, timeout_ms
from chronos.store import executions as exec_store
from chronos.store.lua import Scripts

STRATEGIES = ("immediate", "linear", "exponential")
MAX_DELAY_MS = 3600_000
MAX_RETRIES = 20
LEASE_MARGIN_MS = 60_000

# KEYS[1] lease; ARGV[1] token. Deletes the lease only if this caller still owns it.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def retry_delay_ms(retry: dict[str, Any] | None, failed_attempt: int) -> int | None:
    """Delay before the attempt after ``failed_attempt``, or None when no retry is left."""
    retry = retry or {}
    if failed_attempt > min(int(retry.get("maxRetries") or 0), MAX_RETRIES):
        return None
    base = int(retry.get("baseDelayMs", 1000))
    strategy = retry.get("strategy", "immediate")
    if strategy == "linear":
        delay = base * failed_attempt
    elif strategy == "exponential":
        delay = base * 2 ** (failed_attempt - 1)
    else:
        delay = 0
    return min(delay, MAX_DELAY_MS)


@dataclass(frozen=True)
class Task:
    """One attempt to run: which job, for which fire, which attempt number."""

    owner: str
    job_id: str
    due: int
    trigger_id: str
    attempt: int = 1
    reason: str = "schedule"  # schedule | retry | manual | dependency
    not_before: int | None = None  # when it was queued for (retries)

    def to_member(self) -> bytes:
        return orjson.dumps({"owner": self.owner, "jobId": self.job_id, "due": self.due, "triggerId": self.trigger_id,
                             "attempt": self.attempt, "reason": self.reason, "notBefore": self.not_before},
                            option=orjson.OPT_SORT_KEYS)

    @classmethod
    def from_member(cls, raw: bytes) -> "Task":
        d = orjson.loads(raw)
        return cls(d["owner"], d["jobId"], int(d["due"]), d["triggerId"], int(d["attempt"]), d.get("reason", "retry"),
                   d.get("notBefore"))


class Attempts:
    """Runs attempts and records them. ``clock`` gives epoch ms (tests inject one)."""

    def __init__(self, r: Redis, settings: Settings, clock: Callable[[], int]) -> None:
        self.r = r
        self.settings = settings
        self.clock = clock
        self.scripts = Scripts(r)
        self.release = r.register_script(RELEASE)
        self.host = socket.gethostname()

    def enqueue(self, task: Task, at_ms: int) -> None:
        """Queue an attempt to start at ``at_ms`` (whichever scheduler takes it first runs it)."""
        task = Task(task.owner, task.job_id, task.due, task.trigger_id, task.attempt, task.reason, at_ms)
        self.r.zadd(keys.sched_retries(), {task.to_member(): at_ms})

    def run(self, job: dict[str, Any], task: Task) -> Outcome | None:
        """Run one attempt; None when it was skipped because the previous run is still going."""
        lease_key = keys.sched_running(task.owner, task.job_id)
        token = secrets.token_hex(8)
        target = job.get("target") or {}
        if not job.get("allowOverlap"):
            ttl = timeout_ms(target) + LEASE_MARGIN_MS
            if not self.r.set(lease_key, token, nx=True, px=ttl):
                return None
        try:
            return self._run(job, task, target)
        finally:
            if not job.get("allowOverlap"):
                self.release(keys=[lease_key], args=[token])

    def _run(self, job: dict[str, Any], task: Task, target: dict[str, Any]) -> Outcome:
        exec_id = f"{task.trigger_id}#{task.attempt}"
        started = self.clock()
        base = {"execId": exec_id, "jobId": task.job_id, "attempt": task.attempt, "triggerId": task.trigger_id,
                "host": self.host, "labels": {"runner": str(job.get("type")), "reason": task.reason},
                "metadata": {"scheduledFor": task.due, "queuedFor": task.not_before,
                             "definitionVersion": job.get("definitionVersion")}}
        self._record(task.owner, {**base, "status": "running", "startedAt": started})
        runner = RUNNERS.get(str(job.get("type")))
        if runner is None:
            outcome = Outcome("failed", error_message=f"unknown job type {job.get('type')!r}", retryable=False)
        else:
            try:
                outcome = runner(target, self.settings)
            except Exception as exc:  # noqa: BLE001 - a runner bug is recorded as a failed attempt
                outcome = Outcome("failed", error_message=f"runner error: {exc}"[:1000], error_type=type(exc).__name__)
        finished = max(self.clock(), started + outcome.duration_ms)
        self._record(task.owner, {**base, **outcome.fields(), "startedAt": started, "finishedAt": finished,
                                  "durationMs": finished - started})
        if outcome.status != "success" and outcome.retryable:
            delay = retry_delay_ms(job.get("retry"), task.attempt)
            if delay is not None:
                self.enqueue(Task(task.owner, task.job_id, task.due, task.trigger_id, task.attempt + 1, "retry"),
                             finished + delay)
        return outcome

    def _record(self, owner: str, event: dict[str, Any]) -> None:
        exec_store.record(self.r, self.scripts, owner, [event], self.settings)
