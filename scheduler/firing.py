"""Firing due jobs: read them from the jobs index by ``nextRunAt``, claim, then dispatch.

Due jobs come from ``FT.SEARCH idx:chr:jobs "@nextRunAt:[-inf horizon]" -@state:{paused}" SORTBY nextRunAt``
a page at a time (never a scan of every job). A claimed job's ``nextRunAt`` moves past the horizon, so the
next page starts over at offset 0 and sees the jobs not yet handled; jobs seen earlier in the same round
are skipped, which bounds the work of one round even when claims are lost or fail.

The horizon is ``now`` plus ``ahead_ms``: an SDK job whose next fire is due within ``ahead_ms`` is claimed
now with that one fire planned at its due time, and its trigger waits in the pending set until
``release_due`` sends it at the due time (``chronos.scheduling.claims``). With thousands of jobs due at the
same instant, the claims (a document write each) are then done before the instant and only the sends after
it. Server-side jobs are claimed when due (they run in this process). ``ahead_ms=0`` claims everything at
its due time.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
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
DUE_QUERY = "@nextRunAt:[-inf {horizon}] -@state:{{paused}}"
NOT_MONITORED_STATES = ("paused", "missed")
DEFAULT_GRACE_S = 60
OUTCOMES = {a: a.value for a in FireAction}  # (an enum's .value is a slow property in a loop of thousands)
CLAIM_CHUNK = 250  # jobs per claim script call: bounds how long one call holds Redis (~10 ms)

ServerDispatch = Callable[[dict[str, Any], int, str], str]  # (job, due, fire id) -> outcome


@dataclass
class FireStats:
    claimed: int = 0
    lost: int = 0
    dispatched: int = 0
    missed: int = 0
    coalesced: int = 0
    ahead: int = 0      # of the claimed, those claimed ahead of their due time
    released: int = 0   # triggers claimed ahead and sent at their due time (by this process)
    more: bool = False  # the per-round limit stopped us with due jobs left

    def add(self, other: "FireStats") -> None:
        self.claimed += other.claimed
        self.lost += other.lost
        self.dispatched += other.dispatched
        self.missed += other.missed
        self.coalesced += other.coalesced
        self.ahead += other.ahead
        self.released += other.released


def is_server_job(job: dict[str, Any]) -> bool:
    return job.get("type") in SERVER_TYPES


def grace_ms(job: dict[str, Any]) -> int:
    g = job.get("graceSeconds")
    return int(g * 1000) if isinstance(g, (int, float)) and g >= 0 else DEFAULT_GRACE_S * 1000


class Firer:
    """Claims and dispatches the due fires of every owner's jobs."""

    def __init__(self, r: Redis, node_id: str, *, server_dispatch: ServerDispatch | None = None,
                 page_size: int = 1000, max_per_tick: int = 20_000, ahead_ms: int = 0) -> None:
        self.r = r
        self.node_id = node_id
        self.claim_script = r.register_script(claims.CLAIM)
        self.release_script = r.register_script(claims.RELEASE)
        self.cache = cron.CronCache()
        self.planner = policy.Planner(self.cache)
        self.ahead_planner = policy.Planner(self.cache)  # plans at the due time of fires claimed ahead
        self.ahead_ms = ahead_ms
        self.server_dispatch = server_dispatch
        self.page_size = page_size
        self.max_per_tick = max_per_tick
        # Every second live scheduler walks the due jobs newest-first: with two processes they meet in
        # the middle instead of racing for the same jobs (the claim keeps it exactly-once either way).
        self.descending = False

    def due_page(self, now: int, offset: int) -> list[dict[str, Any]]:
        res = self.r.execute_command("FT.SEARCH", keys.IDX_JOBS, DUE_QUERY.format(horizon=int(now) + self.ahead_ms),
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

    def next_wake(self, now: int) -> int | None:
        """When the next round has work: a pending trigger falls due, or a job's fire comes within reach."""
        nxt = self.next_due()
        if nxt is not None and nxt - self.ahead_ms > now:
            nxt -= self.ahead_ms  # claim it ahead (a job already within reach is a server-side one: at its due)
        wake = [x for x in (nxt, claims.next_release(self.r)) if x is not None]
        return min(wake) if wake else None

    def release(self, now: int) -> int:
        """Send the triggers claimed ahead that are due at ``now``."""
        return claims.release_due(self.r, self.release_script, now, descending=self.descending)

    def fire_due(self, now: int) -> FireStats:
        """Send the pending triggers due at ``now``, then claim (and dispatch, or hold until due) the fires
        due by ``now + ahead_ms``."""
        stats = FireStats()
        # Whatever this process's own ahead_ms: the pending triggers may be another scheduler's.
        stats.released = self.release(now)
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
            for start in range(0, len(fresh), CLAIM_CHUNK):
                part = fresh[start:start + CLAIM_CHUNK]
                seen.update((d.get("owner"), d.get("id")) for d in part)
                got = self._claim_and_dispatch(part, now)
                stats.add(got)
                if got.lost * 2 > len(part):
                    break  # another scheduler is working through these jobs: read a fresh page
        else:
            stats.more = True
        return stats

    def _claim_and_dispatch(self, docs: list[dict[str, Any]], now: int) -> FireStats:
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
            if p is not None:
                requests.append(self._request(job, p, now))
                continue
            nxt = job.get("nextRunAt")
            if not isinstance(nxt, (int, float)) or nxt <= now:
                stale.append((job, self._fresh_next(job)))
            elif not is_server_job(job):
                ahead = self._plan_ahead(job, int(nxt))
                if ahead is not None:
                    requests.append(self._request(job, ahead, now, release_at=ahead.claim_due))
        if stale:
            self._fix_stale(stale)
        won = claims.claim_many(self.r, self.claim_script, requests, self.node_id)
        for req, ok in zip(requests, won):
            if not ok:
                stats.lost += 1
                continue
            stats.claimed += 1
            stats.ahead += req.release_at is not None
            for fire in req.plan.fires:
                if fire.action is FireAction.RUN:
                    stats.dispatched += 1
                    if is_server_job(req.job):
                        self._server(req.job, fire.due, claims.fire_id(req.job["owner"], req.job["id"], fire.due))
                elif fire.action is FireAction.MISSED:
                    stats.missed += 1
                else:
                    stats.coalesced += 1
        return stats

    def _plan_ahead(self, job: dict[str, Any], due: int) -> Plan | None:
        """The plan that claims the job's next fire (and only it) ahead of its due time, or None."""
        try:
            p = self.ahead_planner.plan(job, due)
        except Exception:  # noqa: BLE001 - one broken job must not stop the others
            log.exception("cannot plan job %s/%s", job.get("owner"), job.get("id"))
            return None
        # More than one fire by then (a nextRunAt that is only a hint): claim them when due instead.
        if p is None or len(p.fires) != 1 or p.fires[0].action is not FireAction.RUN:
            return None
        return p

    def _request(self, job: dict[str, Any], p: Plan, now: int, *, release_at: int | None = None) -> ClaimRequest:
        owner, job_id = job["owner"], job["id"]
        server = is_server_job(job)
        runs = p.runs()
        monitored = not server and runs and job.get("state") not in NOT_MONITORED_STATES
        expect_due = runs[0].due if monitored else None
        fired_at = now if release_at is None else release_at  # claimed ahead: sent when due
        req = ClaimRequest(job, p, fired_at, expect_due,
                           expect_due + grace_ms(job) if expect_due is not None else None, release_at)
        fid_prefix = f"{owner}:{job_id}:"
        for fire in p.fires:
            due = fire.due
            entry: dict[str, Any] = {"fireId": fid_prefix + str(due), "dueAt": due, "firedAt": fired_at,
                                     "outcome": OUTCOMES[fire.action], "by": self.node_id}
            if fire.action is FireAction.RUN:
                tid = entry["triggerId"] = claims.trigger_id(job_id, due)
                if not server:
                    entry["outcome"] = "triggered"
                    req.triggers.append(trigger_payload(job_id, tid, due))
            req.log.append(entry)
        if p.missed_beyond_cap:
            req.log.append({"fireId": claims.fire_id(owner, job_id, p.cursor), "dueAt": p.cursor, "firedAt": fired_at,
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
