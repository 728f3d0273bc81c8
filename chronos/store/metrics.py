"""Reading the metric series the record script writes.

Three tiers are written per final execution, each a bucket-aligned sum (max for ``dur_max``):
``1m`` (kept ``CHRONOS_TS_RAW_DAYS``), ``1h`` (``CHRONOS_TS_HOURLY_DAYS``) and ``1d``
(``CHRONOS_TS_DAILY_DAYS``). Writing the rollups at ingest instead of with ``TS.CREATERULE`` keeps
back-filled and replayed executions exact: a compaction rule only sees samples newer than its source's
retention and drops late ones, and the duplicate policy SUM makes concurrent writers add up correctly.
Averages are always ``dur_sum ÷ runs`` per bucket.
"""
from __future__ import annotations

from typing import Any

from redis import Redis

from chronos import keys, search
from chronos.store.query import decode_rows

BUCKETS = {"1m": 60_000, "1h": 3_600_000, "1d": 86_400_000, "1w": 7 * 86_400_000}
TIER_FOR_BUCKET = {"1m": "1m", "1h": "1h", "1d": "1d", "1w": "1d"}
METRICS = ("runs", "successes", "failures", "duration_avg", "duration_max")
MAX_POINTS = 5000


def _tier_for_range(from_ms: int, to_ms: int, now: int, raw_days: int, hourly_days: int) -> str:
    if from_ms >= now - raw_days * 86_400_000 and to_ms - from_ms <= 2 * 86_400_000:
        return "1m"
    if from_ms >= now - hourly_days * 86_400_000:
        return "1h"
    return "1d"


def _series(r: Redis, owner: str | None, scope: str, metric: str, tier: str, from_ms: int, to_ms: int,
            agg: str, bucket_ms: int) -> dict[int, float]:
    """Bucket → value for one scope (a job id or ``_all``); across owners when ``owner`` is None."""
    args = [from_ms, to_ms, "AGGREGATION", agg, bucket_ms]
    if owner is not None:
        try:
            rows = r.execute_command("TS.RANGE", keys.series(owner, scope, metric, tier), *args)
        except Exception as exc:  # noqa: BLE001 - a series that was never written
            if "key does not exist" in str(exc).lower():
                return {}
            raise
        return {int(ts): float(v) for ts, v in rows}
    reducer = "max" if agg == "max" else "sum"
    filters = [f"scope={_label(scope)}", f"metric={metric}", f"tier={tier}"]
    res = r.execute_command("TS.MRANGE", *args[:2], *args[2:], "FILTER", *filters,
                            "GROUPBY", "tier", "REDUCE", reducer)
    out: dict[int, float] = {}
    for _name, _labels, rows in res:
        for ts, v in rows:
            out[int(ts)] = float(v)
    return out


def _label(value: str) -> str:
    # TS filter values cannot be escaped; ids with separators simply do not match across owners.
    return value if all(c.isalnum() or c in "_-.:" for c in value) else "__unmatchable__"


def _align(from_ms: int, to_ms: int, bucket_ms: int) -> list[int]:
    start = from_ms - from_ms % bucket_ms
    count = min(MAX_POINTS, max(0, (to_ms - start) // bucket_ms + 1))
    return [start + i * bucket_ms for i in range(count)]


def timeseries(r: Redis, owner: str | None, *, metric: str, bucket: str, from_ms: int, to_ms: int,
               job_id: str | None = None, group_by: str | None = None) -> dict[str, Any]:
    """Points per bucket for a metric, as one series or grouped by status or by job.

    Count metrics are 0 in empty buckets; duration metrics are None there.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}")
    if bucket not in BUCKETS:
        raise ValueError(f"bucket must be one of {', '.join(BUCKETS)}")
    bucket_ms, tier = BUCKETS[bucket], TIER_FOR_BUCKET[bucket]
    scope = job_id or keys.ALL_JOBS_SCOPE
    stamps = _align(from_ms, to_ms, bucket_ms)
    if not stamps:
        return {"metric": metric, "bucket": bucket, "series": []}
    lo, hi = stamps[0], stamps[-1] + bucket_ms - 1

    def one(scope_: str, metric_: str) -> list[list[Any]]:
        if metric_ in ("runs", "successes", "failures"):
            vals = _series(r, owner, scope_, metric_, tier, lo, hi, "sum", bucket_ms)
            return [[t, int(vals.get(t, 0))] for t in stamps]
        if metric_ == "duration_max":
            vals = _series(r, owner, scope_, "dur_max", tier, lo, hi, "max", bucket_ms)
            return [[t, vals.get(t)] for t in stamps]
        sums = _series(r, owner, scope_, "dur_sum", tier, lo, hi, "sum", bucket_ms)
        runs = _series(r, owner, scope_, "runs", tier, lo, hi, "sum", bucket_ms)
        return [[t, (sums[t] / runs[t]) if runs.get(t) and t in sums else None] for t in stamps]

    if group_by == "status":
        series = [{"name": "success", "points": one(scope, "successes")},
                  {"name": "failed", "points": one(scope, "failures")}]
    elif group_by == "job":
        series = [{"name": j, "points": one(j, metric)} for j in job_ids_with_series(r, owner, tier)]
    else:
        series = [{"name": job_id or "all", "points": one(scope, metric)}]
    return {"metric": metric, "bucket": bucket, "series": series}


def job_ids_with_series(r: Redis, owner: str | None, tier: str, limit: int = 50) -> list[str]:
    """Job ids that have run series in a tier (an owner's, or everyone's for admins), busiest first."""
    filters = ["metric=runs", f"tier={tier}", f"scope!={keys.ALL_JOBS_SCOPE}"]
    if owner is not None:
        filters.insert(0, f"owner={owner}")
    names = r.execute_command("TS.QUERYINDEX", *filters)
    ids = []
    for name in names:
        parts = (name.decode() if isinstance(name, bytes) else name).split(":")
        ids.append(":".join(parts[3:-2]))  # chr:ts:<owner>:<job id>:runs:<tier>
    return sorted(set(ids))[:limit]


def totals(r: Redis, owner: str | None, from_ms: int, to_ms: int, *, now: int, raw_days: int,
           hourly_days: int, job_id: str | None = None) -> dict[str, int]:
    """runs / successes / failures between two instants (at the finest tier that covers the range)."""
    tier = _tier_for_range(from_ms, to_ms, now, raw_days, hourly_days)
    bucket = keys.TIER_MS[tier]
    span = max(bucket, (to_ms - from_ms) + bucket)
    scope = job_id or keys.ALL_JOBS_SCOPE
    out = {}
    for metric in ("runs", "successes", "failures"):
        vals = _series(r, owner, scope, metric, tier, from_ms - from_ms % bucket, to_ms, "sum", span)
        out[metric] = int(sum(vals.values()))
    return out


def duration_quantiles(r: Redis, owner: str | None, from_ms: int, to_ms: int, job_id: str | None = None,
                       *, runs: int | None = None, max_rows: int = 20_000,
                       slices: int = 96) -> dict[str, float | None]:
    """p50 / p95 / max of finished runs' durations in a range (RediSearch's QUANTILE reducer).

    Exact up to ``max_rows`` runs; past that (``runs``, the range's count from the series, says so) it is
    estimated from ``slices`` evenly spaced time slices holding about ``max_rows`` runs together: a
    stratified sample whose p95 is off by a fraction of a percent of rank (``max`` is the sample's).
    """
    span = max(1, to_ms - from_ms)
    if runs is None or runs <= max_rows:
        when = search.numeric("finishedAt", from_ms, to_ms)
    else:
        width = max(1, int(span / slices * max_rows / runs))
        step = span / slices
        when = "(" + " | ".join(f"@finishedAt:[{int(from_ms + i * step)} {int(from_ms + i * step) + width}]"
                                for i in range(slices)) + ")"
    q = search.join([
        search.tag("owner", owner) if owner else None,
        search.tag("jobId", job_id) if job_id else None,
        when,
    ])
    res = r.execute_command(
        "FT.AGGREGATE", keys.IDX_EXECUTIONS, q, "GROUPBY", 0,
        "REDUCE", "QUANTILE", 2, "@durationMs", "0.5", "AS", "p50",
        "REDUCE", "QUANTILE", 2, "@durationMs", "0.95", "AS", "p95",
        "REDUCE", "MAX", 1, "@durationMs", "AS", "max",
        "DIALECT", 2,
    )
    rows = decode_rows(res)
    row = rows[0] if rows else {}

    def num(name: str) -> float | None:
        try:
            v = float(row[name])
        except (KeyError, ValueError):
            return None
        return v if v == v else None  # NaN when no rows

    return {"p50": num("p50"), "p95": num("p95"), "max": num("max")}
