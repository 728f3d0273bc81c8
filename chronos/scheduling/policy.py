"""What one claim of a due job fires: misfire and coalescing policies as named fields, and ``plan()``.

A job's scheduling state lives on its document:

* ``nextRunAt`` — when it is next due (the index the scheduler reads, sorted by this field);
* ``sched.cursor`` — the last due time a scheduler has dealt with (fired, coalesced or recorded as missed).
  Only the claim script writes it, by compare-and-set, so the timeline of a job is cut into consecutive
  ranges ``(cursor, new cursor]`` and every due time falls in exactly one claim.

Policies (job fields, with their defaults):

* ``misfirePolicy``: ``run_within_grace`` — a fire processed more than ``misfireGraceSeconds`` after its due
  time is not run but recorded as missed; ``run_late`` — it runs however late.
* ``coalesce``: ``latest`` — of several backlogged fires only the latest runs, the others are recorded as
  coalesced; ``none`` — each backlogged fire runs.
* ``misfireGraceSeconds``: default 60.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Mapping

from chronos.scheduling import cron

DEFAULT_MISFIRE_GRACE_S = 60


class MisfirePolicy(str, enum.Enum):
    RUN_WITHIN_GRACE = "run_within_grace"
    RUN_LATE = "run_late"


class Coalesce(str, enum.Enum):
    LATEST = "latest"
    NONE = "none"


class FireAction(str, enum.Enum):
    RUN = "run"              # dispatched (a trigger for SDK jobs, a run for server-side jobs)
    MISSED = "missed"        # too late under the misfire policy: recorded, not run
    COALESCED = "coalesced"  # folded into a later fire of the same backlog


@dataclass(frozen=True)
class Fire:
    due: int
    action: FireAction


@dataclass(frozen=True)
class Plan:
    """The outcome of one claim: ``claim_due`` names the claim, ``cursor`` is the new cursor."""

    claim_due: int
    cursor: int
    next_run_at: int | None
    fires: list[Fire] = field(default_factory=list)
    missed_beyond_cap: bool = False  # the backlog was longer than cron.MAX_BACKLOG fires
    once_done: bool = False

    def runs(self) -> list[Fire]:
        return [f for f in self.fires if f.action is FireAction.RUN]


@dataclass(frozen=True)
class Policies:
    misfire: MisfirePolicy = MisfirePolicy.RUN_WITHIN_GRACE
    coalesce: Coalesce = Coalesce.LATEST
    misfire_grace_ms: int = DEFAULT_MISFIRE_GRACE_S * 1000

    @classmethod
    def of(cls, job: Mapping[str, Any]) -> "Policies":
        """The job's policies; unknown values fall back to the defaults."""
        try:
            misfire = MisfirePolicy(job.get("misfirePolicy") or MisfirePolicy.RUN_WITHIN_GRACE.value)
        except ValueError:
            misfire = MisfirePolicy.RUN_WITHIN_GRACE
        try:
            coalesce = Coalesce(job.get("coalesce") or Coalesce.LATEST.value)
        except ValueError:
            coalesce = Coalesce.LATEST
        grace = job.get("misfireGraceSeconds")
        grace_ms = int(grace * 1000) if isinstance(grace, (int, float)) and grace >= 0 else DEFAULT_MISFIRE_GRACE_S * 1000
        return cls(misfire=misfire, coalesce=coalesce, misfire_grace_ms=grace_ms)


def schedule_of(job: Mapping[str, Any]) -> cron.Schedule | None:
    """The job's parsed schedule, or None when it has none (or an invalid one)."""
    expr = job.get("schedule")
    if not expr:
        return None
    try:
        return cron.parse(expr, job.get("timezone"))
    except cron.ScheduleError:
        return None


def cursor_of(job: Mapping[str, Any]) -> int | None:
    sched = job.get("sched")
    if isinstance(sched, dict) and isinstance(sched.get("cursor"), (int, float)):
        return int(sched["cursor"])
    return None


def first_due(job: Mapping[str, Any], cache: cron.CronCache, schedule: cron.Schedule | None) -> int | None:
    """The earliest due time not yet dealt with, or None when the job has nothing left to fire."""
    cursor = cursor_of(job)
    if job.get("runMode") == "once":
        if cursor is not None:
            return None  # a one-time job fires once, whatever the schedule or nextRunAt say later
        if isinstance(job.get("runAt"), (int, float)):
            return int(job["runAt"])
    if schedule is None:
        return None
    if cursor is not None:
        return cache.next_after(schedule, cursor)
    hint = job.get("nextRunAt")
    if not isinstance(hint, (int, float)):
        return None
    # nextRunAt was computed at registration (or ingest); re-derive it so it is a real fire under our rules.
    return cache.next_after(schedule, int(hint) - 1)


def plan(job: Mapping[str, Any], now: int, cache: cron.CronCache) -> Plan | None:
    """The fires one claim of ``job`` at ``now`` covers, or None when nothing is due yet."""
    schedule = schedule_of(job)
    due = first_due(job, cache, schedule)
    if due is None or due > now:
        return None
    once = job.get("runMode") == "once"
    dues = [due] if once else [due, *cache.fires(schedule, due, now, cron.MAX_BACKLOG - 1)]  # type: ignore[arg-type]
    capped = False
    if once:
        nxt = None
    else:
        nxt = cache.next_after(schedule, dues[-1])  # type: ignore[arg-type]
        if nxt <= now:
            # Longer backlog than we enumerate: skip to the present; the rest counts as one missed range.
            capped = True
            nxt = cache.next_after(schedule, now)  # type: ignore[arg-type]
    pol = Policies.of(job)
    eligible = [d for d in dues if pol.misfire is MisfirePolicy.RUN_LATE or now - d <= pol.misfire_grace_ms]
    if capped and pol.misfire is MisfirePolicy.RUN_WITHIN_GRACE:
        eligible = []  # the enumerated fires are all older than the skipped-over present
    run_set = set(eligible[-1:]) if pol.coalesce is Coalesce.LATEST else set(eligible)
    fires = []
    for d in dues:
        if d in run_set:
            fires.append(Fire(d, FireAction.RUN))
        elif d in eligible:
            fires.append(Fire(d, FireAction.COALESCED))
        else:
            fires.append(Fire(d, FireAction.MISSED))
    cursor = now if capped else dues[-1]
    return Plan(claim_due=due, cursor=cursor, next_run_at=nxt, fires=fires, missed_beyond_cap=capped,
                once_done=once)


class Planner:
    """``plan()`` with a memo for one instant: jobs that share a schedule, timezone, cursor and policies
    (thousands of them, on busy systems) share one plan. Call ``at(now)`` when the instant changes."""

    def __init__(self, cache: cron.CronCache) -> None:
        self.cache = cache
        self.now = -1
        self.memo: dict[tuple[Any, ...], Plan | None] = {}

    def plan(self, job: Mapping[str, Any], now: int) -> Plan | None:
        if now != self.now:
            self.now, self.memo = now, {}
        key = (job.get("schedule"), job.get("timezone"), job.get("runMode"), job.get("runAt"), cursor_of(job),
               job.get("nextRunAt"), job.get("misfirePolicy"), job.get("coalesce"), job.get("misfireGraceSeconds"))
        try:
            return self.memo[key]
        except KeyError:
            result = self.memo[key] = plan(job, now, self.cache)
            return result
        except TypeError:  # an unhashable value in a malformed document
            return plan(job, now, self.cache)
