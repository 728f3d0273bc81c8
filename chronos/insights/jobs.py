"""Everything the insights know about one job, in one answer (``GET /api/insights/jobs/{jobId}``)."""
from __future__ import annotations

from typing import Any

from redis import Redis

from chronos.config import Settings
from chronos.insights import anomalies, history, retry, schedule
from chronos.insights.errors import error_groups
from chronos.timeutil import now_ms, to_iso

DAY_MS = 86_400_000


def job_report(r: Redis, settings: Settings, job: dict[str, Any], *, from_ms: int | None = None,
               to_ms: int | None = None, now: int | None = None) -> dict[str, Any]:
    """Anomalies and error groups in [from, to] (default: the last 24 h), retry advice, suggested max runtime
    and grace (from the newest 1000 finished runs) and a schedule suggestion (``slot``, from the last 28 days)."""
    now = now if now is not None else now_ms()
    to = to_ms if to_ms is not None else now
    frm = from_ms if from_ms is not None else to - DAY_MS
    owner = job["owner"]
    runs = history.recent_runs(r, owner, job["id"], before_ms=to)
    return {
        "jobId": job["id"], "jobName": job.get("name") or job["id"], "schedule": job.get("schedule"),
        "from": to_iso(frm), "to": to_iso(to), "runsAnalysed": len(runs),
        "anomalies": [a.to_dict() for a in anomalies.job_anomalies(r, settings, job, frm, to, runs)],
        "errors": error_groups(r, owner, from_ms=frm, to_ms=to, job_id=job["id"], limit=10),
        "retry": retry.retry_advice(runs),
        "runtime": retry.runtime_advice(runs, job),
        "slot": schedule.suggest_slot(r, owner, job, from_ms=to - schedule.DEFAULT_DAYS * DAY_MS, to_ms=to,
                                          now=now),
    }
