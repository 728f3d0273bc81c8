"""Firing due jobs: read them from the jobs index by ``nextRunAt``, claim, then dispatch.

Due jobs come from ``FT.SEARCH idx:chr:jobs "@nextRunAt:[-inf now] -@state:{paused}" SORTBY nextRunAt``
a page at a time (never a scan of every job). A claimed job's ``nextRunAt`` moves past ``now``, so the
next page starts over at offset 0 and sees the jobs not yet handled; jobs seen earlier in the same tick
are skipped, which bounds the work of one tick even when claims are lost or fail.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import orjson
from redis import Redis

from chronos import keys
from chronos.scheduling import claims, cron, policy
from chronos.scheduling.claims import ClaimRequest
from chronos.scheduling.policy import FireAction, Plan
from chronos.scheduling.triggers import trigger_payload
from chronos.store.query import decode_docs

log = logging.getLogger(__name__)

SERVER_TYPES = ("http", "shell", "email")
DUE_QUERY = "@nextRunAt:[-inf {now}] -@state:{{paused}}"
NOT_MONITORED_STATES = ("paused", "missed")
DEFAULT_GRACE_S = 60

ServerDispatch = Callable[[dict[str, Any], int, str], str]  # (job, due, fire id) -> outcome


@dataclass
class FireStats:
    claimed: int = 0
    lost: int = 0
    dispatched: int = 0
    missed: int = 0
    coalesced: int = 0
    lags_ms: list[int] = field(default_factory=list)
    more: bool = False  # the per-tick limit stopped us with due jobs left

    def add(self, other: "FireStats") -> None:
        self.claimed += other.claimed
        self.lost += other.lost
        self.dispatched += other.dispatched
        self.missed += other.missed
        self.coalesced += other.coalesced


def is_server_job(job: dict[str, Any]) -> bool:
    return job.get("type") in SERVER_TYPES


def grace_ms(job: dict[str, Any]) -> int:
    g = job.get("graceSeconds")
    return int(g * 1000) if isinstance(g, (int, float)) and g >= 0 else DEFAULT_GRACE_S * 1000


class Firer:
    """Claims and dispatches the due fires of every owner's jobs."""

    def __init__(self, r: Redis, node_id: str, *, server_dispatch: ServerDispatch | None = None,
                 page_size: int = 500, max_per_tick: int = 20_000) -> None:
        self.r = r
        self.node_id = node_id
        self.claim_script = r.register_script(claims.CLAIM)
        self.cache = cron.CronCache()
        self.planner = policy.Planner(self.cache)
        self.server_dispatch = server_dispatch
        self.page_size = page_size
        self.max_per_tick = max_per_tick
        # Every second live scheduler walks the due jobs newest-first: with two processes they meet in
        # the middle instead of racing for the same jobs (the claim keeps it exactly-once either way).
        self.descending = False

    def due_page(self, now: int, offset: int) -> list[dict[str, Any]]:
        res = self.r.execute_command("FT.SEARCH", keys.IDX_JOBS, DUE_QUERY.format(now=int(now)),
                                     "SORTBY", "nextRunAt", "DESC" if self.descending else "ASC",
                                     "LIMIT", offset, self.page_size, "DIALECT", 2)
        return decode_docs(res)

    def next_due(self) -> int | None:
        """The earliest ``nextRunAt`` of any active job (for the loop's sleep)."""
        res = self.r.execute_command("FT.SEARCH", keys.IDX_JOBS, "@nextRunAt:[-inf +inf] -@state:{paused}",
                                     "SORTBY", "nextRunAt", "ASC", "RETURN", 1, "nextRunAt", "LIMIT", 0, 1,
                                     "DIALECT", 2)
        if res[0] == 0 or len(res) < 3:
            return None
        fields = dict(zip(res[2][::2], res[2][1::2]))
        raw = fields.get(b"nextRunAt")
        return int(float(raw)) if raw is not None else None

    def fire_due(self, now: int) -> FireStats:
        stats = FireStats()
        seen: set[tuple[str, str]] = set()
        offset = 0
        while len(seen) < self.max_per_tick:
            docs = self.due_page(now, offset)
            if not docs:
                break
            fresh = [d for d in docs if (d.get("owner"), d.get("id")) not in seen]
            if not fresh:
                offset += len(docs)  # every job on this page was handled and is (for now) still due
                continue
            for d in fresh:
                seen.add((d.get("owner"), d.get("id")))
            stats.add(self._claim_and_dispatch(fresh, now, stats))
        else:
            stats.more = True
        return stats

    def _claim_and_dispatch(self, docs: list[dict[str, Any]], now: int, total: FireStats) -> FireStats:
        stats = FireStats()
        requests: list[ClaimRequest] = []
        stale: list[tuple[dict[str, Any], int | None]] = []
        for job in docs:
            if self.server_dispatch is None and is_server_job(job):
                continue  # left due for a scheduler that runs server-side jobs
            try:
                p = self.planner.plan(job, now)
            except Exception:  # noqa: BLE001 - one broken job must not stop the others
                log.exception("cannot plan job %s/%s", job.get("owner"), job.get("id"))
                continue
            if p is None:
                stale.append((job, self._fresh_next(job)))
                continue
            requests.append(self._request(job, p, now))
        if stale:
            self._fix_stale(stale)
        won = claims.claim_many(self.r, self.claim_script, requests, self.node_id)
        for req, ok in zip(requests, won):
            if not ok:
                stats.lost += 1
                continue
            stats.claimed += 1
            for fire in req.plan.fires:
                if fire.action is FireAction.RUN:
                    stats.dispatched += 1
                    total.lags_ms.append(now - fire.due)
                    if is_server_job(req.job):
                        self._server(req.job, fire.due, claims.fire_id(req.job["owner"], req.job["id"], fire.due))
                elif fire.action is FireAction.MISSED:
                    stats.missed += 1
                else:
                    stats.coalesced += 1
        return stats

    def _request(self, job: dict[str, Any], p: Plan, now: int) -> ClaimRequest:
        owner, job_id = job["owner"], job["id"]
        runs = p.runs()
        server = is_server_job(job)
        monitored = not server and job.get("state") not in NOT_MONITORED_STATES and runs
        expect_due = runs[0].due if monitored else None
        req = ClaimRequest(job=job, plan=p, fired_at=now, expect_due=expect_due,
                           expect_deadline=(expect_due + grace_ms(job)) if expect_due is not None else None)
        for fire in p.fires:
            entry: dict[str, Any] = {"fireId": claims.fire_id(owner, job_id, fire.due), "dueAt": fire.due,
                                     "firedAt": now, "outcome": fire.action.value, "by": self.node_id}
            if fire.action is FireAction.RUN:
                tid = claims.trigger_id(job_id, fire.due)
                entry["triggerId"] = tid
                if not server:
                    entry["outcome"] = "triggered"
                    req.triggers.append(trigger_payload(job_id, tid, fire.due))
            req.log.append(entry)
        if p.missed_beyond_cap:
            req.log.append({"fireId": claims.fire_id(owner, job_id, p.cursor), "dueAt": p.cursor, "firedAt": now,
                            "outcome": "missed", "by": self.node_id,
                            "note": f"more than {cron.MAX_BACKLOG} fires were overdue; the ones between were skipped"})
        return req

    def _server(self, job: dict[str, Any], due: int, fid: str) -> str:
        if self.server_dispatch is None:
            return "no-runner"  # a scheduler started with --no-server-jobs: the fire is logged, not run
        try:
            return self.server_dispatch(job, due, fid)
        except Exception:  # noqa: BLE001
            log.exception("dispatch of %s failed", fid)
            return "dispatch-error"

    def _fresh_next(self, job: dict[str, Any]) -> int | None:
        """A due-looking job with nothing to fire: the nextRunAt it should have instead."""
        if job.get("runMode") == "once" and policy.cursor_of(job) is not None:
            return None
        sched = policy.schedule_of(job)
        return policy.first_due(job, self.cache, sched) if sched is not None else None

    def _fix_stale(self, items: list[tuple[dict[str, Any], int | None]]) -> None:
        # Not a claim: the value written is derived from the cursor, which only claims change, so a
        # concurrent claim writes the same value or a later one.
        pipe = self.r.pipeline(transaction=False)
        for job, nxt in items:
            pipe.execute_command("JSON.MERGE", keys.job(job["owner"], job["id"]), "$", orjson.dumps({"nextRunAt": nxt}))
        pipe.execute()
