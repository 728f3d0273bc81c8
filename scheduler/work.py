"""Server-side jobs inside the scheduler: a bounded pool of attempts, the retry queue, and dependencies.

The pool is a ``ThreadPoolExecutor`` behind a semaphore: when every worker is busy, a fire is not queued
in memory (it would be lost in a crash) but put on the Redis retry queue a second later. ``workers=0``
runs attempts inline in the tick, which is what the tests use to stay deterministic.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from redis import Redis

from chronos import keys
from chronos.config import Settings
from chronos.scheduling import claims
from chronos.scheduling.execute import Attempts, Task
from chronos.scheduling.triggers import Emitter
from chronos.store import jobs as job_store

log = logging.getLogger(__name__)

BUSY_DELAY_MS = 1000
DEP_CLAIM_TTL_S = 86_400


class ServerJobs:
    """Runs server-side job attempts for one scheduler process."""

    def __init__(self, r: Redis, settings: Settings, *, clock: Callable[[], int], node_id: str,
                 workers: int | None = None) -> None:
        self.r = r
        self.clock = clock
        self.node_id = node_id
        self.attempts = Attempts(r, settings, clock)
        self.emitter = Emitter(r)
        n = settings.chronos_scheduler_workers if workers is None else workers
        self.pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="chronos-job") if n > 0 else None
        self.slots = threading.BoundedSemaphore(n) if n > 0 else None

    # ---- entry points --------------------------------------------------------------------------

    def dispatch(self, job: dict[str, Any], due: int, fire_id: str) -> str:
        """Start attempt 1 of a scheduled fire (the firer calls this after its claim)."""
        task = Task(job["owner"], job["id"], due, claims.trigger_id(job["id"], due))
        return self.submit(job, task)

    def submit(self, job: dict[str, Any], task: Task) -> str:
        if self.pool is None:
            return self._run(job, task)
        if not self.slots.acquire(blocking=False):  # type: ignore[union-attr]
            self.attempts.enqueue(task, self.clock() + BUSY_DELAY_MS)
            return "queued"
        fut = self.pool.submit(self._run, job, task)
        fut.add_done_callback(lambda _f: self.slots.release())  # type: ignore[union-attr]
        return "started"

    def _run(self, job: dict[str, Any], task: Task) -> str:
        try:
            outcome = self.attempts.run(job, task)
        except Exception:  # noqa: BLE001 - Redis trouble mid-attempt: logged, the retry queue is intact
            log.exception("attempt %s of %s failed to run", task.attempt, task.trigger_id)
            return "error"
        if outcome is None:
            claims_entry = {"fireId": f"{task.owner}:{task.job_id}:{task.due}", "dueAt": task.due,
                            "firedAt": self.clock(), "outcome": "skipped-overlap", "attempt": task.attempt,
                            "by": self.node_id}
            with self.r.pipeline(transaction=False) as pipe:
                claims.log_fires(pipe, task.owner, task.job_id, [claims_entry])
                pipe.execute()
            return "skipped-overlap"
        return outcome.status

    def start_due_retries(self, now: int, limit: int = 200) -> int:
        """Start the queued attempts that are due (retries, manual and dependency runs)."""
        members = self.r.zrangebyscore(keys.sched_retries(), "-inf", now, start=0, num=limit)
        started = 0
        for member in members:
            if not self.r.zrem(keys.sched_retries(), member):
                continue  # another scheduler took it
            task = Task.from_member(member)
            job = job_store.get(self.r, task.owner, task.job_id)
            if job is None or job.get("state") == "paused":
                continue
            self.submit(job, task)
            started += 1
        return started

    def next_retry(self) -> int | None:
        first = self.r.zrange(keys.sched_retries(), 0, 0, withscores=True)
        return int(first[0][1]) if first else None

    def on_dependency_success(self, job: dict[str, Any], exec_id: str, now: int) -> list[str]:
        """After a success of ``job``: start each dependent whose dependencies have all succeeded."""
        owner = job["owner"]
        dependents = sorted(x.decode() for x in self.r.smembers(keys.job_dependents(owner, job["id"])))
        started = []
        for dep_id in dependents:
            dep = job_store.get(self.r, owner, dep_id)
            if dep is None or dep.get("state") == "paused":
                continue
            needs = [d for d in dep.get("dependsOn") or [] if d != job["id"]]
            states = job_store.get_many(self.r, owner, needs, "$.lastStatus")
            if any(states.get(n) != "success" for n in needs):
                continue
            # One dependent run per upstream execution, whichever scheduler handles the event.
            if not self.r.set(keys.fire_claim(owner, dep_id, f"after-{exec_id}"), self.node_id, nx=True,
                              ex=DEP_CLAIM_TTL_S):
                continue
            tid = f"{dep_id}@after:{exec_id}"
            if dep.get("type") in ("http", "shell", "email"):
                self.submit(dep, Task(owner, dep_id, now, tid, 1, "dependency"))
            else:
                self.emitter.trigger(owner, dep_id, tid, now, pipe=self.r)
            started.append(dep_id)
        return started

    def drain(self) -> None:
        """Wait for the attempts already started (tests)."""
        if self.pool is not None:
            n = self.pool._max_workers  # noqa: SLF001
            for _ in range(n):
                self.slots.acquire()  # type: ignore[union-attr]
            for _ in range(n):
                self.slots.release()  # type: ignore[union-attr]

    def shutdown(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)
