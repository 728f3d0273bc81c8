"""Prometheus text exposition of an owner's jobs (format 0.0.4, Prometheus naming conventions)."""
from __future__ import annotations

from typing import Any, Iterable

from redis import Redis

from chronos import keys, search
from chronos.store import metrics
from chronos.timeutil import now_ms

MAX_JOBS = 10_000
JOB_FIELDS = ("id", "name", "state", "lastStatus", "totalRuns", "totalFailures", "consecutiveFailures",
              "lastDurationMs", "lastRunAt", "nextRunAt")


def _escape(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: Any) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _jobs(r: Redis, owner: str | None) -> list[dict[str, Any]]:
    q = search.tag("owner", owner) if owner else "*"
    returns: list[str] = []
    for f in JOB_FIELDS:
        returns += [f"$.{f}", "AS", f]
    res = r.execute_command("FT.SEARCH", keys.IDX_JOBS, q, "RETURN", len(returns), *returns,
                            "SORTBY", "createdAt", "ASC", "LIMIT", 0, MAX_JOBS, "DIALECT", 3)
    import orjson

    out = []
    for i in range(1, len(res), 2):
        doc: dict[str, Any] = {}
        fields = res[i + 1]
        for k, v in zip(fields[::2], fields[1::2]):
            value = orjson.loads(v)
            doc[k.decode()] = value[0] if isinstance(value, list) and value else value
        out.append(doc)
    return out


def render(r: Redis, owner: str | None) -> str:
    """The exposition text for the owner's jobs (every owner's when None)."""
    jobs = _jobs(r, owner)
    lines: list[str] = []

    def family(name: str, kind: str, help_: str, samples: Iterable[tuple[str, Any]]) -> None:
        lines.append(f"# HELP {name} {help_}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            lines.append(f"{name}{labels} {value}")

    def per_job(field: str, scale: float = 1.0) -> Iterable[tuple[str, Any]]:
        for j in jobs:
            if isinstance(j.get(field), (int, float)):
                yield _labels(job=j["id"], name=j.get("name", j["id"])), j[field] * scale

    family("chronos_job_runs_total", "counter", "Finished runs of the job.", per_job("totalRuns"))
    family("chronos_job_failures_total", "counter", "Failed or timed-out runs of the job.", per_job("totalFailures"))
    family("chronos_job_consecutive_failures", "gauge", "Failures since the last success.",
           per_job("consecutiveFailures"))
    family("chronos_job_last_duration_seconds", "gauge", "Duration of the latest finished run.",
           per_job("lastDurationMs", 0.001))
    family("chronos_job_last_run_timestamp_seconds", "gauge", "When the latest run finished.",
           per_job("lastRunAt", 0.001))
    family("chronos_job_next_run_timestamp_seconds", "gauge", "When the job is next due.", per_job("nextRunAt", 0.001))
    family("chronos_job_state", "gauge", "1 for the job's current monitoring state.",
           ((_labels(job=j["id"], state=j.get("state", "new")), 1) for j in jobs))
    family("chronos_job_last_status", "gauge", "1 for the status of the job's latest run.",
           ((_labels(job=j["id"], status=j["lastStatus"]), 1) for j in jobs if j.get("lastStatus")))
    now = now_ms()
    recent = metrics.timeseries(r, owner, metric="runs", bucket="1m", from_ms=now - 5 * 60_000, to_ms=now)
    per_min = sum(p[1] for p in recent["series"][0]["points"][:-1]) / 5 if recent["series"] else 0
    family("chronos_ingest_runs_per_minute", "gauge", "Finished runs recorded per minute over the last 5 minutes.",
           [("", per_min)])
    family("chronos_jobs", "gauge", "Jobs known.", [("", len(jobs))])
    return "\n".join(lines) + "\n"
