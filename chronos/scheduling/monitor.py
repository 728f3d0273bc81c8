"""Monitoring states (Healthchecks / Sentry Crons semantics) as pure transitions over a job document.

States: ``new`` (never ran) → ``up``; ``running``; ``late`` (an expected run is ``graceSeconds`` overdue);
``missed`` (a further ``graceSeconds`` passed: it did not happen); ``timeout`` (running longer than
``maxRuntimeSeconds``, or reported as timed out); ``failing`` (``failureThreshold`` consecutive failures);
``recovered`` (``recoveryThreshold`` consecutive successes after an incident); ``paused``.

The streaks are the monitor's own (``monitor.failStreak``, ``monitor.successStreak``), counted over the
events in the order they were recorded, so a batch of events decides exactly what the same events one at a
time would (``fold_executions``), whenever ingestion got round to updating the job's own counters.

An *incident* opens with the first of failing / missed / timeout and closes at recovery: the alert rules see
exactly one ``failure``/``missed``/``timeout`` notification per incident and one ``recovery``. Every state
change is a *flip* ``{from, to, reason, at}``, stored by ``chronos.scheduling.flips``.

The functions here never touch Redis: each returns a ``Change`` (or None), and the caller writes it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

STATES = ("new", "up", "running", "late", "missed", "timeout", "failing", "recovered", "paused")
INCIDENT_STATES = {"failing": "failure", "missed": "missed", "timeout": "timeout"}  # state -> alert event
DEFAULT_GRACE_S = 60
DEFAULT_MAX_RUNTIME_S = 1800
EARLY_TOLERANCE_MS = 60_000  # a run up to this much (at most the grace) before its due time counts for it


@dataclass
class Change:
    """A job's new monitoring state and what goes with it."""

    to: str
    reason: str
    at: int
    patch: dict[str, Any] = field(default_factory=dict)  # merged into the job's ``monitor`` object
    alert: str | None = None  # failure | missed | timeout | recovery
    frm: str = ""
    clear_deadline: bool = False
    deadline_at: int | None = None
    held: str | None = None  # why the alert is held back (outage guard), if it is

    def flip(self) -> dict[str, Any]:
        return {"from": self.frm, "to": self.to, "reason": self.reason, "at": self.at}


def _num(job: Mapping[str, Any], name: str, default: int, low: int = 0) -> int:
    v = job.get(name)
    return int(v) if isinstance(v, (int, float)) and v >= low else default


def grace_ms(job: Mapping[str, Any]) -> int:
    return _num(job, "graceSeconds", DEFAULT_GRACE_S) * 1000


def max_runtime_ms(job: Mapping[str, Any]) -> int:
    return _num(job, "maxRuntimeSeconds", DEFAULT_MAX_RUNTIME_S, 1) * 1000


def tolerance_ms(job: Mapping[str, Any]) -> int:
    return min(grace_ms(job), EARLY_TOLERANCE_MS)


def mon(job: Mapping[str, Any]) -> dict[str, Any]:
    m = job.get("monitor")
    return m if isinstance(m, dict) else {}


def state_of(job: Mapping[str, Any]) -> str:
    s = job.get("state")
    return s if s in STATES else "new"


def _incident(job: Mapping[str, Any]) -> dict[str, Any] | None:
    inc = mon(job).get("incident")
    return inc if isinstance(inc, dict) and inc.get("kind") else None


def _satisfies(job: Mapping[str, Any], run_ms: int | None) -> bool:
    due = mon(job).get("expectDue")
    return isinstance(due, (int, float)) and run_ms is not None and run_ms >= due - tolerance_ms(job)


def _open(job: Mapping[str, Any], state: str, reason: str, at: int, patch: dict[str, Any],
          hold: str | None = None) -> Change:
    """Enter an incident state: the alert fires only when no incident is open yet."""
    if _incident(job) is None:
        patch["incident"] = {"kind": state, "openedAt": at, **({"held": True} if hold else {})}
        return Change(state, reason, at, patch, alert=INCIDENT_STATES[state], held=hold)
    return Change(state, reason, at, patch)


def on_execution(job: Mapping[str, Any], ev: Mapping[str, Any], at: int) -> Change | None:
    """The change an execution event (its summary: status, startedAt, finishedAt, execId) causes."""
    cur = state_of(job)
    if cur == "paused":
        return None
    m = mon(job)
    status = ev.get("status")
    started, finished = ev.get("startedAt"), ev.get("finishedAt")
    patch: dict[str, Any] = {}
    clear = _satisfies(job, started) or _satisfies(job, finished)
    if clear:
        patch["expectDue"] = None
    if status == "running":
        patch.update({"lastStartedAt": started, "runningExecId": ev.get("execId")})
        ch = Change("running", "a run started", at, patch)
    else:
        if m.get("runningExecId") == ev.get("execId"):
            patch["runningExecId"] = None
        ch = _on_final(job, status, at, patch)
    if ch is None:
        return None
    ch.frm, ch.clear_deadline = cur, clear
    if ch.to == cur and not ch.patch:
        return None
    return ch


def fail_streak(job: Mapping[str, Any]) -> int:
    """Consecutive failed or timed-out runs before the event being decided.

    A job monitored before the monitor kept its own count starts from the job's ``consecutiveFailures``
    (which ingestion has already moved past the event being decided)."""
    n = mon(job).get("failStreak")
    if isinstance(n, int):
        return n
    return max(int(job.get("consecutiveFailures") or 0) - 1, 0)


def fold_executions(job: Mapping[str, Any], events: list[Mapping[str, Any]], at: int) -> list[Change]:
    """The changes a job's execution events cause, in order: each event is decided on the job as the events
    before it left it (state, streaks, incident, expectation), so N failures then a success in one batch
    flip and alert exactly as they would one at a time."""
    cur: dict[str, Any] = {**job, "monitor": dict(mon(job))}
    if not isinstance(cur["monitor"].get("failStreak"), int):
        # Ingestion counted every final event of this batch already; what came before is the rest.
        failed = sum(1 for ev in events if ev.get("status") in ("failed", "timeout"))
        reset = any(ev.get("status") == "success" for ev in events)
        cur["monitor"]["failStreak"] = 0 if reset else max(int(job.get("consecutiveFailures") or 0) - failed, 0)
    changes = []
    for ev in events:
        ch = on_execution(cur, ev, at)
        if ch is not None:
            changes.append(ch)
            apply(cur, ch)
    return changes


def apply(job: dict[str, Any], change: Change) -> None:
    """Make ``job`` (in memory) what writing ``change`` makes of the stored document."""
    m = job.setdefault("monitor", {})
    for name, value in change.patch.items():
        if value is None:
            m.pop(name, None)
        elif isinstance(value, dict) and isinstance(m.get(name), dict):
            m[name] = {**m[name], **value}
        else:
            m[name] = value
    if change.to != change.frm:
        job["state"], job["stateSince"] = change.to, change.at


def _on_final(job: Mapping[str, Any], status: Any, at: int, patch: dict[str, Any]) -> Change | None:
    inc = _incident(job)
    if status == "success":
        streak = int(mon(job).get("successStreak") or 0) + 1
        patch["successStreak"], patch["failStreak"] = streak, 0
        if inc is None:
            return Change("up", "run succeeded", at, patch)
        need = _num(job, "recoveryThreshold", 1, 1)
        if streak >= need:
            patch["incident"] = None
            held = "the incident's alert was held back (ingestion outage)" if inc.get("held") else None
            return Change("recovered", f"{streak} successful run(s) after {inc['kind']}", at, patch, alert="recovery",
                          held=held)
        return Change(inc["kind"], f"success {streak} of {need} needed to recover", at, patch)
    if status in ("failed", "timeout"):
        failures = fail_streak(job) + 1
        patch["successStreak"], patch["failStreak"] = 0, failures
        if status == "timeout":
            return _open(job, "timeout", "the run reported a timeout", at, patch)
        need = _num(job, "failureThreshold", 1, 1)
        if failures >= need:
            return _open(job, "failing", f"{failures} consecutive failure(s)", at, patch)
        return Change(inc["kind"] if inc else "up", f"failure {failures} of {need} tolerated", at, patch)
    if status == "cancelled":
        return Change(inc["kind"] if inc else "up", "the run was cancelled", at, patch)
    return None


def on_deadline(job: Mapping[str, Any], now: int, hold: str | None = None) -> Change | None:
    """The change an expected run's deadline causes at ``now`` (late, then missed), or None.

    ``hold`` (the outage guard's reason) marks a new "missed" incident's alert as held back."""
    m = mon(job)
    due = m.get("expectDue")
    cur = state_of(job)
    if not isinstance(due, (int, float)) or cur == "paused":
        return Change(cur, "", now, {"expectDue": None}, frm=cur, clear_deadline=True) if cur == "paused" else None
    run_ms = max(x for x in (job.get("lastRunAt"), m.get("lastStartedAt"), 0) if isinstance(x, (int, float)))
    if _satisfies(job, run_ms) or cur == "running":
        return Change(cur, "", now, {"expectDue": None}, frm=cur, clear_deadline=True)
    grace = grace_ms(job)
    if now >= due + 2 * grace:
        ch = _open(job, "missed", f"no run reported for the fire due {int(due)} (grace {grace // 1000} s, twice)",
                   now, {"expectDue": None, "successStreak": 0}, hold)
        ch.frm, ch.clear_deadline = cur, True
        return ch
    if now >= due + grace:
        ch = Change("late", f"the run due {int(due)} is {grace // 1000} s overdue", now, {}, frm=cur,
                    deadline_at=int(due + 2 * grace))
        return None if cur == "late" else ch
    return Change(cur, "", now, {}, frm=cur, deadline_at=int(due + grace))


def on_runtime_exceeded(job: Mapping[str, Any], exec_id: str, started: int, now: int) -> Change | None:
    """A run still running after ``maxRuntimeSeconds`` (once per execution)."""
    m = mon(job)
    if state_of(job) == "paused" or m.get("timedOutExecId") == exec_id:
        return None
    limit = max_runtime_ms(job)
    if now - started < limit:
        return None
    ch = _open(job, "timeout", f"run {exec_id} still running after {limit // 1000} s", now,
               {"timedOutExecId": exec_id, "successStreak": 0})
    ch.frm = state_of(job)
    return ch


def on_pause(job: Mapping[str, Any], paused: bool, now: int) -> Change | None:
    """Pausing closes any incident silently; resuming starts over from ``up`` (or ``new``)."""
    cur = state_of(job)
    if paused:
        if cur == "paused":
            return None
        return Change("paused", "paused", now, {"incident": None, "expectDue": None}, frm=cur, clear_deadline=True)
    if cur != "paused":
        return None
    back = "up" if int(job.get("totalRuns") or 0) > 0 else "new"
    return Change(back, "resumed", now, {"successStreak": 0}, frm=cur)
