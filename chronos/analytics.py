"""Analytics the API and the dashboard share."""
from __future__ import annotations

from typing import Any

from redis import Redis

from chronos import search
from chronos.config import Settings
from chronos.store import jobs as job_store
from chronos.store import metrics
from chronos.timeutil import now_ms, to_iso


def summary(r: Redis, settings: Settings, owner: str | None, frm: int, to: int,
            job_id: str | None = None) -> dict[str, Any]:
    """Runs, successes, failures, success rate, duration quantiles, active and failing jobs in a range."""
    t = metrics.totals(r, owner, frm, to, now=now_ms(), raw_days=settings.chronos_ts_raw_days,
                       hourly_days=settings.chronos_ts_hourly_days, job_id=job_id)
    q = metrics.duration_quantiles(r, owner, frm, to, job_id=job_id, runs=t["runs"])
    finished = t["successes"] + t["failures"]
    only = search.tag("id", job_id) if job_id else None
    return {
        "from": to_iso(frm), "to": to_iso(to), "runs": t["runs"], "successes": t["successes"],
        "failures": t["failures"], "successRate": (t["successes"] / finished) if finished else None,
        "p50DurationMs": q["p50"], "p95DurationMs": q["p95"], "maxDurationMs": q["max"],
        "jobs": job_store.count(r, owner, only),
        "activeJobs": job_store.count(r, owner, search.join([only, f"@lastRunAt:[{frm} {to}]"])),
        "failingJobs": job_store.count(r, owner, search.join([only, "@consecutiveFailures:[1 +inf]"])),
        "lateJobs": job_store.count(r, owner, search.join([only, search.tag("state", ["late", "missed"])])),
    }
