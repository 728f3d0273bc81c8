"""Read-only queries the dashboard needs beyond the store's: per-bucket duration quantiles, sparklines,
day/week/month rollups, the hour x weekday heatmap, filter options and system figures.

Every function is scoped to one owner and reads through RediSearch, RedisTimeSeries and RedisJSON;
key and index names come from ``chronos.keys``, user text goes through ``chronos.search``.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable

from redis import Redis
from redis.exceptions import ResponseError

import orjson

from chronos import analytics, keys, search
from chronos.config import Settings
from chronos.store import executions as exec_store
from chronos.store import jobs as job_store
from chronos.store import metrics
from chronos.store.query import Page, decode_rows
from chronos.timeutil import now_ms

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
PERIODS = ("hour", "day", "week", "month")


def _num(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if v == v else None  # NaN → None


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _scalar(raw: Any) -> Any:
    """A value from a DIALECT 3/4 reply: JSON, an array holding the value unless it is the SORTBY field."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _s(raw)
    if isinstance(value, list):
        return value[0] if value else None
    return value


# ---- executions -----------------------------------------------------------------------------------

def search_executions(r: Redis, query: exec_store.ExecutionQuery, *, count: bool = True) -> Page:
    """The store's execution search (kept here so the pages import one module)."""
    return exec_store.search_executions(r, query, count=count)


def summary(r: Redis, settings: Settings, owner: str, frm: int, to: int, now: int) -> dict[str, Any]:
    """The Overview's figures: ``chronos.analytics.summary`` (quantiles stay quick at scale)."""
    return analytics.summary(r, settings, owner, frm, to)


# ---- jobs ---------------------------------------------------------------------------------------

def recent_runs(r: Redis, owner: str, job_ids: Iterable[str], n: int = 20,
                last_runs: dict[str, int] | None = None) -> dict[str, list[dict[str, Any]]]:
    """The last ``n`` runs of each job (oldest first) as ``{durationMs, status}``; ``last_runs``: the jobs'
    ``lastRunAt`` where the caller has it (the recent band then ends there).

    Redis sorts only a recent band of each job's runs: first as far back as about ``4n`` of its runs go at
    its rate in its last minutes (``exec_store.first_band``), then 8 and 64 times that, then the last week,
    then everything, each for the jobs the band before left short. Sorting a band is what keeps a page of 100 jobs quick when each
    job has thousands of runs, or runs many times a second.
    """
    ids = list(dict.fromkeys(job_ids))
    out: dict[str, list[dict[str, Any]]] = {}
    now = now_ms()
    pipe = r.pipeline(transaction=False)
    for job_id in ids:
        pipe.execute_command("TS.REVRANGE", keys.series(owner, job_id, "runs", "1m"), "-", "+",
                             "COUNT", exec_store.RATE_MINUTES)
    last_runs = last_runs or {}
    first = {j: (now, exec_store.FIRST_BAND_MS) if isinstance(b, Exception)
             else exec_store.band_for(b, 4 * n, now, last_runs.get(j))
             for j, b in zip(ids, pipe.execute(raise_on_error=False))}
    week = f"@sortKey:[{(now - 7 * DAY_MS) * 1000} +inf]"
    for band in (1, exec_store.BAND_GROWTH, exec_store.BAND_GROWTH ** 2, week, None):
        todo = [j for j in ids if j not in out]
        if not todo:
            break
        pipe = r.pipeline(transaction=False)
        for job_id in todo:
            end, width = first[job_id]
            clause = f"@sortKey:[{(end - width * band) * 1000} +inf]" if isinstance(band, int) else band
            q = search.join([search.tag("owner", owner), search.tag("jobId", job_id), clause])
            pipe.execute_command("FT.SEARCH", keys.IDX_EXECUTIONS, q, "RETURN", 2, "durationMs", "status",
                                 "SORTBY", "sortKey", "DESC", "LIMIT", 0, n, "DIALECT", 3)
        for job_id, res in zip(todo, pipe.execute()):
            if band is None or int(res[0]) >= n:
                runs = []
                for i in range(2, len(res), 2):
                    f = {_s(k): _scalar(v) for k, v in zip(res[i][::2], res[i][1::2])}
                    runs.append({"durationMs": _num(f.get("durationMs")), "status": str(f.get("status") or "")})
                out[job_id] = runs[::-1]
    return {j: out[j] for j in ids}


def facet_values(r: Redis, owner: str, field: str, limit: int = 100) -> list[tuple[str, int]]:
    """Distinct values of a job TAG field (``tags`` or ``appId``) with their job counts, commonest first."""
    if field not in ("tags", "appId"):
        raise ValueError("field must be tags or appId")
    res = r.execute_command("FT.AGGREGATE", keys.IDX_JOBS, search.tag("owner", owner),
                            "GROUPBY", 1, f"@{field}", "REDUCE", "COUNT", 0, "AS", "n",
                            "SORTBY", 4, "@n", "DESC", f"@{field}", "ASC", "MAX", limit, "DIALECT", 2)
    out = []
    for row in decode_rows(res):
        value = row.get(field)
        if value:
            out.append((value, int(row.get("n", 0))))
    return out


def busiest_jobs(r: Redis, owner: str, limit: int = 8) -> list[dict[str, Any]]:
    """The jobs with the most runs recorded, as ``{id, name, totalRuns}``."""
    res = r.execute_command("FT.AGGREGATE", keys.IDX_JOBS, search.tag("owner", owner),
                            "LOAD", 7, "@id", "$.name", "AS", "name", "$.totalRuns", "AS", "totalRuns",
                            "SORTBY", 2, "@totalRuns", "DESC", "MAX", limit, "DIALECT", 2)
    return [{"id": row["id"], "name": row.get("name") or row["id"], "totalRuns": int(_num(row.get("totalRuns")) or 0)}
            for row in decode_rows(res) if row.get("id")]


def duration_buckets(r: Redis, owner: str, job_id: str, frm: int, to: int, bucket_ms: int) -> list[dict[str, Any]]:
    """Per time bucket of a job's runs (by start time): count, p50, p95 and max duration, oldest first."""
    q = search.join([search.tag("owner", owner), search.tag("jobId", job_id),
                     search.numeric("startedAt", frm, to)])
    res = r.execute_command(
        "FT.AGGREGATE", keys.IDX_EXECUTIONS, q,
        "APPLY", f"floor(@startedAt/{int(bucket_ms)})*{int(bucket_ms)}", "AS", "t",
        "GROUPBY", 1, "@t",
        "REDUCE", "COUNT", 0, "AS", "n",
        "REDUCE", "QUANTILE", 2, "@durationMs", "0.5", "AS", "p50",
        "REDUCE", "QUANTILE", 2, "@durationMs", "0.95", "AS", "p95",
        "REDUCE", "MAX", 1, "@durationMs", "AS", "max",
        "SORTBY", 2, "@t", "ASC", "MAX", 5000, "DIALECT", 2,
    )
    return [{"t": int(_num(row["t"]) or 0), "n": int(_num(row.get("n")) or 0), "p50": _num(row.get("p50")),
             "p95": _num(row.get("p95")), "max": _num(row.get("max"))} for row in decode_rows(res) if "t" in row]


def job_versions(r: Redis, owner: str, job_id: str, limit: int = 20) -> list[dict[str, Any]]:
    """The job and app versions seen in a job's runs: runs, first and last start, newest first."""
    q = search.join([search.tag("owner", owner), search.tag("jobId", job_id)])
    res = r.execute_command(
        "FT.AGGREGATE", keys.IDX_EXECUTIONS, q,
        "LOAD", 6, "$.jobVersion", "AS", "jv", "$.appVersion", "AS", "av",
        "GROUPBY", 2, "@jv", "@av",
        "REDUCE", "COUNT", 0, "AS", "n",
        "REDUCE", "MIN", 1, "@startedAt", "AS", "first",
        "REDUCE", "MAX", 1, "@startedAt", "AS", "last",
        "SORTBY", 2, "@last", "DESC", "MAX", limit, "DIALECT", 2,
    )
    return [{"jobVersion": row.get("jv") or None, "appVersion": row.get("av") or None,
             "runs": int(_num(row.get("n")) or 0), "first": int(_num(row.get("first")) or 0),
             "last": int(_num(row.get("last")) or 0)} for row in decode_rows(res)]


def duration_distribution(r: Redis, owner: str, job_ids: list[str], frm: int, to: int) -> list[dict[str, Any]]:
    """Duration quantiles (min, q1, median, q3, p95, max) per job over runs started in a range."""
    if not job_ids:
        return []
    q = search.join([search.tag("owner", owner), search.tag("jobId", job_ids),
                     search.numeric("startedAt", frm, to)])
    reducers: list[Any] = ["REDUCE", "COUNT", 0, "AS", "n", "REDUCE", "MIN", 1, "@durationMs", "AS", "min",
                           "REDUCE", "MAX", 1, "@durationMs", "AS", "max"]
    for name, qv in (("q1", "0.25"), ("median", "0.5"), ("q3", "0.75"), ("p95", "0.95")):
        reducers += ["REDUCE", "QUANTILE", 2, "@durationMs", qv, "AS", name]
    res = r.execute_command("FT.AGGREGATE", keys.IDX_EXECUTIONS, q, "GROUPBY", 1, "@jobId", *reducers,
                            "DIALECT", 2)
    rows = {row["jobId"]: row for row in decode_rows(res) if row.get("jobId")}
    out = []
    for job_id in job_ids:
        row = rows.get(job_id)
        if row:
            out.append({"jobId": job_id, "n": int(_num(row.get("n")) or 0),
                        **{k: _num(row.get(k)) for k in ("min", "q1", "median", "q3", "p95", "max")}})
    return out


# ---- time buckets -------------------------------------------------------------------------------

def period_start(ms: int, period: str) -> int:
    """Start (UTC) of the hour, day, ISO week (Monday) or calendar month holding ``ms``."""
    if period == "hour":
        return ms - ms % HOUR_MS
    day = ms - ms % DAY_MS
    if period == "day":
        return day
    dt = datetime.fromtimestamp(day / 1000, tz=timezone.utc)
    if period == "week":
        return day - dt.weekday() * DAY_MS
    if period == "month":
        return int(dt.replace(day=1).timestamp() * 1000)
    raise ValueError(f"period must be one of {', '.join(PERIODS)}")


def regroup(points: list[list[Any]], period: str) -> list[list[Any]]:
    """Sum ``[t, count]`` points into periods (week, month...); keeps empty periods that had points."""
    out: dict[int, float] = {}
    for t, v in points:
        k = period_start(int(t), period)
        out[k] = out.get(k, 0) + (v or 0)
    return [[k, out[k]] for k in sorted(out)]


def runs_by_period(r: Redis, owner: str, frm: int, to: int, period: str,
                   job_id: str | None = None) -> dict[str, list[Any]]:
    """Successes, failures and all runs per period (UTC), read from the hourly or daily metric tier.

    Weeks start on Monday and months on the 1st: both are built from whole days, so every bucket is exact.
    """
    bucket = "1h" if period == "hour" else "1d"
    frm = period_start(frm, period)
    series = {}
    for name, metric in (("success", "successes"), ("failed", "failures"), ("total", "runs")):
        data = metrics.timeseries(r, owner, metric=metric, bucket=bucket, from_ms=frm, to_ms=to, job_id=job_id)
        pts = data["series"][0]["points"] if data["series"] else []
        series[name] = regroup(pts, period) if period in ("week", "month") else pts
    xs = [p[0] for p in series["total"]]
    return {"x": xs, "success": [p[1] for p in series["success"]], "failed": [p[1] for p in series["failed"]],
            "total": [p[1] for p in series["total"]]}


def _range_points(r: Redis, key: str, frm: int, to: int, bucket_ms: int) -> list[tuple[int, float]]:
    try:
        rows = r.execute_command("TS.RANGE", key, frm, to, "AGGREGATION", "sum", bucket_ms)
    except ResponseError as exc:
        if "does not exist" in str(exc).lower():
            return []
        raise
    return [(int(t), float(v)) for t, v in rows]


def heatmap(r: Redis, owner: str, frm: int, to: int) -> dict[str, list[list[int]]]:
    """Runs and failures by weekday (0 = Monday) x hour of day (UTC), from the hourly tier."""
    grids: dict[str, list[list[int]]] = {}
    for name, metric in (("runs", "runs"), ("failures", "failures")):
        grid = [[0] * 24 for _ in range(7)]
        key = keys.series(owner, keys.ALL_JOBS_SCOPE, metric, "1h")
        for t, v in _range_points(r, key, frm - frm % HOUR_MS, to, HOUR_MS):
            dt = datetime.fromtimestamp(t / 1000, tz=timezone.utc)
            grid[dt.weekday()][dt.hour] += int(v)
        grids[name] = grid
    return grids


# ---- system -------------------------------------------------------------------------------------

def _index_stats(name: str, raw: Any) -> dict[str, Any]:
    if isinstance(raw, Exception) or not raw:
        return {"name": name, "docs": 0, "sizeMb": None, "indexing": None}
    info = {_s(k): v for k, v in zip(raw[::2], raw[1::2])}
    size = _num(_s(info.get("total_index_memory_sz_mb", ""))) or sum(
        _num(_s(info.get(k, 0))) or 0 for k in ("inverted_sz_mb", "offset_vectors_sz_mb", "doc_table_size_mb",
                                                "sortable_values_size_mb", "key_table_size_mb"))
    return {"name": name, "docs": int(_num(_s(info.get("num_docs", 0))) or 0), "sizeMb": size,
            "indexing": _s(info.get("indexing", "0")) == "1"}


def system_stats(r: Redis) -> dict[str, Any]:
    """Redis memory, key counts and index sizes (admins), in one round trip."""
    pipe = r.pipeline(transaction=False)
    pipe.info("memory")
    pipe.info("keyspace")
    pipe.scard(keys.users())
    for name in (keys.IDX_JOBS, keys.IDX_EXECUTIONS):
        pipe.execute_command("FT.INFO", name)
    mem, keyspace, n_users, *indexes = pipe.execute(raise_on_error=False)
    db = keyspace.get(f"db{r.connection_pool.connection_kwargs.get('db', 0)}", {}) if isinstance(keyspace, dict) else {}
    db = db if isinstance(db, dict) else {}
    return {
        "usedMemory": mem.get("used_memory", 0), "usedMemoryHuman": mem.get("used_memory_human", ""),
        "peakMemoryHuman": mem.get("used_memory_peak_human", ""), "maxMemory": mem.get("maxmemory", 0),
        "keys": int(db.get("keys", 0)), "expiring": int(db.get("expires", 0)), "users": int(n_users),
        "indexes": [_index_stats(name, raw) for name, raw in zip((keys.IDX_JOBS, keys.IDX_EXECUTIONS), indexes)],
    }


def ingest_rate(r: Redis, now: int, minutes: int = 60) -> list[list[int]]:
    """Executions recorded per minute over the last ``minutes``, all owners, from the 1m tier."""
    frm = now - now % 60_000 - (minutes - 1) * 60_000
    res = r.execute_command("TS.MRANGE", frm, now, "AGGREGATION", "sum", 60_000,
                            "FILTER", f"scope={keys.ALL_JOBS_SCOPE}", "metric=runs", "tier=1m",
                            "GROUPBY", "tier", "REDUCE", "sum")
    vals: dict[int, int] = {}
    for _name, _labels, rows in res:
        for t, v in rows:
            vals[int(t)] = int(float(v))
    return [[frm + i * 60_000, vals.get(frm + i * 60_000, 0)] for i in range(minutes)]
