"""Scheduling advice: an hour x weekday heatmap of load and failures, and a quieter cron slot for a job.

Both read the metric series (the ``1h`` tier for hours and weekdays, the ``1m`` tier of the last 7 days for
minutes), never the executions, so they cost the same at a thousand executions or a million. The series
are bucketed by a run's finish time.

The suggestion scores each hour of the days the job runs as ``other jobs' runs / busiest hour's runs
+ 2 x failure rate`` (the job's own rate at that hour when it ran there 5 times or more, else every job's,
smoothed towards the overall rate) and takes the lowest; ties keep the hour nearest the current one. The
minute is the one with the fewest other runs in that hour, then across all hours, then off the :00/:05 grid.
Jobs that run more than once an hour get no suggestion; hourly-ish ones get a minute only.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from redis import Redis

from chronos import keys
from chronos.insights.stats import percent
from chronos.timeutil import now_ms, to_iso, zone

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DEFAULT_DAYS = 28
MINUTE_DAYS = 7
FAIL_WEIGHT = 2.0
MIN_JOB_RUNS = 5
MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
          "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
Grid = list[list[float]]


def _range(r: Redis, owner: str | None, scope: str, metric: str, tier: str, from_ms: int,
           to_ms: int) -> list[tuple[int, float]]:
    if owner is not None:
        try:
            rows = r.execute_command("TS.RANGE", keys.series(owner, scope, metric, tier), from_ms, to_ms)
        except Exception as exc:  # noqa: BLE001 - a series never written
            if "does not exist" in str(exc).lower():
                return []
            raise
        return [(int(t), float(v)) for t, v in rows]
    res = r.execute_command("TS.MRANGE", from_ms, to_ms, "FILTER", f"scope={keys.ALL_JOBS_SCOPE}",
                            f"metric={metric}", f"tier={tier}", "GROUPBY", "tier", "REDUCE", "sum")
    return [(int(t), float(v)) for _n, _l, rows in res for t, v in rows]


def _grid(samples: list[tuple[int, float]], tz: ZoneInfo) -> Grid:
    g = [[0.0] * 24 for _ in range(7)]
    for ts, v in samples:
        dt = datetime.fromtimestamp(ts / 1000, tz)
        g[dt.weekday()][dt.hour] += v
    return g


def grids(r: Redis, owner: str | None, scope: str, from_ms: int, to_ms: int, tz: ZoneInfo) -> dict[str, Grid]:
    """runs, failures, busyMs (summed run time) per [weekday 0=Mon][hour] in ``tz``, and failureRate."""
    out = {name: _grid(_range(r, owner, scope, metric, "1h", from_ms, to_ms), tz)
           for name, metric in (("runs", "runs"), ("failures", "failures"), ("busyMs", "dur_sum"))}
    out["failureRate"] = [[(f / n if n else None) for f, n in zip(fr, nr)]  # type: ignore[misc]
                          for fr, nr in zip(out["failures"], out["runs"])]
    return out


def heatmap(r: Redis, owner: str | None, *, from_ms: int, to_ms: int, tz: str | None = None,
            job_id: str | None = None) -> dict[str, Any]:
    """Load and failures by weekday x hour across the owner's jobs (``all``) and, with ``job_id``, one job's."""
    zi = zone(tz)
    out: dict[str, Any] = {"from": to_iso(from_ms), "to": to_iso(to_ms), "tz": zi.key,
                           "days": round((to_ms - from_ms) / 86_400_000, 2), "weekdays": list(WEEKDAYS),
                           "hours": list(range(24)), "all": grids(r, owner, keys.ALL_JOBS_SCOPE, from_ms, to_ms, zi)}
    if job_id:
        out["job"] = grids(r, owner, job_id, from_ms, to_ms, zi)
    return out


def _cron_fields(expr: str | None) -> tuple[str | None, list[str]] | None:
    """(seconds field or None, the five classic fields) of a cron expression or macro; None when unusable."""
    if not expr:
        return None
    text = MACROS.get(expr.strip().lower(), expr.strip())
    parts = text.split()
    if len(parts) == 6:
        return parts[0], parts[1:]
    return (None, parts) if len(parts) == 5 else None


def _fires(expr: str, zi: ZoneInfo, after_ms: int, n: int = 40) -> list[datetime]:
    try:
        it = croniter(expr, datetime.fromtimestamp(after_ms / 1000, zi), second_at_beginning=len(expr.split()) == 6)
        return [it.get_next(datetime) for _ in range(n)]
    except Exception:  # noqa: BLE001 - croniter raises many kinds for odd input
        return []


def _int(field: str) -> int | None:
    return int(field) if field.isdigit() else None


def _minutes(r: Redis, owner: str, job_id: str, to_ms: int, zi: ZoneInfo) -> tuple[list[list[float]], list[float]]:
    """Other jobs' runs per [hour][minute] and per minute of any hour, over the last MINUTE_DAYS days."""
    frm = to_ms - MINUTE_DAYS * 86_400_000
    per = [[0.0] * 60 for _ in range(24)]
    for sign, scope in ((1, keys.ALL_JOBS_SCOPE), (-1, job_id)):
        for ts, v in _range(r, owner, scope, "runs", "1m", frm, to_ms):
            dt = datetime.fromtimestamp(ts / 1000, zi)
            per[dt.hour][dt.minute] += sign * v
    return per, [sum(per[h][m] for h in range(24)) for m in range(60)]


def _hour_stats(g_all: dict[str, Grid], g_job: dict[str, Grid], days: list[int]) -> list[dict[str, Any]]:
    """Per hour of the given weekdays: other jobs' runs, the failure rate used for scoring, and its basis."""
    total_n = sum(map(sum, g_all["runs"]))
    prior = (sum(map(sum, g_all["failures"])) / total_n) if total_n else 0.0
    stats = []
    for h in range(24):
        jn, jf = sum(g_job["runs"][d][h] for d in days), sum(g_job["failures"][d][h] for d in days)
        an, af = sum(g_all["runs"][d][h] for d in days), sum(g_all["failures"][d][h] for d in days)
        if jn >= MIN_JOB_RUNS:
            rate, basis = jf / jn, "this job's runs in that hour"
        elif an:
            rate, basis = (af + 2 * prior) / (an + 2), "all jobs' runs in that hour"
        else:
            rate, basis = prior, "all jobs' overall rate; nothing ran in that hour"
        stats.append({"hour": h, "otherRuns": int(an - jn), "failureRate": round(rate, 4), "failureBasis": basis})
    peak = max(x["otherRuns"] for x in stats) or 1
    for x in stats:
        x["score"] = round(x["otherRuns"] / peak + FAIL_WEIGHT * x["failureRate"], 4)
    return stats


def suggest_slot(r: Redis, owner: str, job: dict[str, Any], *, from_ms: int, to_ms: int,
                 now: int | None = None) -> dict[str, Any]:
    """A cron slot for ``job`` with the least contention and failures, and why (in the job's timezone)."""
    zi = zone(job.get("timezone")) if _valid_tz(job.get("timezone")) else zone(None)
    schedule = job.get("schedule")
    parsed = _cron_fields(schedule)
    base: dict[str, Any] = {"jobId": job["id"], "schedule": schedule, "timezone": zi.key}
    fires = _fires(" ".join(([parsed[0]] if parsed[0] else []) + parsed[1]), zi, now or now_ms()) if parsed else []
    gaps = [(b - a).total_seconds() for a, b in zip(fires, fires[1:])]
    if parsed and not fires:
        return {**base, "applicable": False, "reason": "the schedule does not fire; nothing to move"}
    if gaps and min(gaps) < 3600:
        return {**base, "applicable": False,
                "reason": "it runs more than once an hour; moving it would not spread the load"}
    seconds, fields = parsed if parsed else (None, ["0", "0", "*", "*", "*"])
    prefix = [seconds] if seconds else []
    cur_h, cur_m = (_int(fields[1]), _int(fields[0])) if parsed else (None, None)
    per_hour, any_hour = _minutes(r, owner, job["id"], to_ms, zi)
    if gaps and min(gaps) < 86_400:
        # Several runs a day: only the minute is moved, the hours stay.
        minute = min(range(60), key=lambda m: (any_hour[m], 0 if m == cur_m else 1, m % 5 == 0, m))
        suggested = " ".join(prefix + [str(minute), *fields[1:]])
        loads = f"{int(any_hour[minute])} runs of other jobs at minute {minute} in the last {MINUTE_DAYS} days"
        if cur_m is not None and cur_m != minute:
            loads += f" (minute {cur_m}: {int(any_hour[cur_m])})"
        return {**base, "applicable": True, "mode": "minute", "suggestedSchedule": suggested, "hour": None,
                "minute": minute, "changed": suggested.split() != prefix + fields,
                "reason": f"minute {minute} of the hour is the quietest: {loads}",
                "current": None, "suggested": None, "weekdays": list(WEEKDAYS), "alternatives": []}
    days = sorted({f.weekday() for f in fires}) or list(range(7))
    stats = _hour_stats(grids(r, owner, keys.ALL_JOBS_SCOPE, from_ms, to_ms, zi),
                        grids(r, owner, job["id"], from_ms, to_ms, zi), days)

    def distance(h: int) -> int:
        return 0 if cur_h is None else min((h - cur_h) % 24, (cur_h - h) % 24)

    ranked = sorted(stats, key=lambda x: (x["score"], distance(x["hour"]), x["hour"]))
    best = ranked[0]
    hour = best["hour"]
    keep = hour == cur_h
    minute = min(range(60), key=lambda m: (per_hour[hour][m], any_hour[m], 0 if keep and m == cur_m else 1,
                                           m % 5 == 0, m))
    suggested = " ".join(prefix + [str(minute), str(hour), *fields[2:]])
    changed = suggested.split() != prefix + fields
    current = stats[cur_h] if cur_h is not None else None
    weeks = max(1, round((to_ms - from_ms) / (7 * 86_400_000)))
    slot = f"{hour:02d}:{minute:02d} {zi.key}"
    if current is None:
        why = f"{slot} has the least contention"
    elif not changed:
        why = f"the current slot {slot} is already the quietest"
    else:
        why = f"{slot} is quieter than the current {cur_h:02d}:{(cur_m or 0):02d}"
    versus = current is not None and current is not best
    reason = (f"{why}: {best['otherRuns']} runs of other jobs in that hour over the last {weeks} week(s)"
              + (f" (current hour: {current['otherRuns']})" if versus else "")
              + f"; failure rate {percent(best['failureRate'])} ({best['failureBasis']})"
              + (f", current hour {percent(current['failureRate'])} ({current['failureBasis']})" if versus else ""))
    return {**base, "applicable": True, "mode": "daily", "suggestedSchedule": suggested, "hour": hour,
            "minute": minute, "changed": changed, "reason": reason, "current": current, "suggested": best,
            "weekdays": [WEEKDAYS[d] for d in days], "alternatives": ranked[:3]}


def _valid_tz(name: Any) -> bool:
    try:
        zone(name if isinstance(name, str) else None)
        return True
    except ValueError:
        return False
