"""Reading what the insights analyse: a job's recent finished runs, active jobs, FT.AGGREGATE replies."""
from __future__ import annotations

import time
from typing import Any, Iterable

from redis import Redis

from chronos import keys, search
from chronos.store.query import decode_docs
from chronos.timeutil import now_ms

HISTORY = 1000          # finished runs of a job read at most per analysis
AGG_TIMEOUT_MS = 5_000  # FT.AGGREGATE otherwise stops (silently, returning what it has) after 500 ms
FINAL = ("success", "failed", "timeout", "cancelled")
FAILED = ("failed", "timeout")
INDEXED = ("jobId", "jobName", "status", "errorType", "errorMessage", "appId", "host", "triggerId",
           "startedAt", "finishedAt", "durationMs", "errorGroup")
NUMERIC = ("startedAt", "finishedAt", "durationMs", "attempt")
RUN_FIELDS = ("execId", "status", "startedAt", "finishedAt", "durationMs", "attempt", "triggerId",
              "errorType", "errorMessage", "errorGroup")


def _text(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [_text(v) for v in value]
    return value


class QueryTooLarge(RuntimeError):
    """An aggregation ran into its time limit, so its answer would be partial: narrow the range or filters."""


def aggregate(r: Redis, query: str, *args: Any, timeout_ms: int = AGG_TIMEOUT_MS) -> list[dict[str, Any]]:
    """Rows of ``FT.AGGREGATE`` over the executions index, as dicts of str (None where a value is missing,
    lists for TOLIST). ``args`` is everything after the query string, DIALECT included.

    Raises QueryTooLarge instead of returning the partial rows RediSearch answers when it times out."""
    started = time.monotonic()
    res = r.execute_command("FT.AGGREGATE", keys.IDX_EXECUTIONS, query, "TIMEOUT", timeout_ms, *args)
    if (time.monotonic() - started) * 1000 >= timeout_ms * 0.98:
        # RediSearch does not say it stopped early (RESP2): a query that took the whole budget did.
        raise QueryTooLarge(f"the query needed more than {timeout_ms / 1000:.0f} s of Redis time: "
                            "narrow the time range or add filters")
    rows = []
    for row in res[1:]:
        items = _text(row)
        rows.append(dict(zip(items[::2], items[1::2])))
    return rows


def num(value: Any) -> float | None:
    """A reply value as a float; None when missing, not a number or NaN."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if v == v and v not in (float("inf"), float("-inf")) else None


def owner_clause(owner: str | None) -> str | None:
    return search.tag("owner", owner) if owner else None


def recent_runs(r: Redis, owner: str, job_id: str, *, limit: int = HISTORY, before_ms: int | None = None,
                statuses: Iterable[str] = FINAL, fields: Iterable[str] = RUN_FIELDS) -> list[dict[str, Any]]:
    """The job's newest finished runs (finishedAt <= ``before_ms``), oldest first, at most ``limit``.

    Indexed fields are returned by attribute (cheap); others (``attempt``) by JSONPath."""
    statuses = tuple(statuses)
    recent = before_ms is None or before_ms >= now_ms() - 3_600_000
    q = search.join([
        owner_clause(owner), search.tag("jobId", job_id),
        # Union and range clauses cost more than the rows they remove: running runs (no finishedAt) and
        # runs that finished after a recent ``before_ms`` are dropped below instead.
        None if set(statuses) == set(FINAL) else search.tag("status", statuses),
        None if recent else search.numeric("finishedAt", None, before_ms),
    ])
    returns: list[str] = []
    for f in fields:
        returns += [f] if f in INDEXED else [f"$.{f}", "AS", f]
    res = r.execute_command("FT.SEARCH", keys.IDX_EXECUTIONS, q, "RETURN", len(returns), *returns,
                            "SORTBY", "finishedAt", "DESC", "LIMIT", 0, limit, "DIALECT", 2)
    runs = []
    names: dict[bytes, str] = {}
    for i in range(1, len(res), 2):
        doc: dict[str, Any] = {}
        flat = res[i + 1] or []
        for k, v in zip(flat[::2], flat[1::2]):
            name = names.get(k) or names.setdefault(k, _text(k))
            if name in NUMERIC:
                value = num(v)
                if value is not None:
                    doc[name] = int(value) if value.is_integer() else value
            else:
                doc[name] = v.decode("utf-8", "replace") if isinstance(v, bytes) else v
        if "finishedAt" in doc and doc.get("status") != "running" and (before_ms is None
                                                                         or doc["finishedAt"] <= before_ms):
            runs.append(doc)
    runs.reverse()
    return runs


def active_jobs(r: Redis, owner: str | None, since_ms: int, limit: int = 100) -> tuple[list[dict[str, Any]], int]:
    """Jobs that finished a run since ``since_ms``, most recent first (at most ``limit``), and how many there are."""
    q = search.join([owner_clause(owner), search.numeric("lastRunAt", since_ms, None)])
    res = r.execute_command("FT.SEARCH", keys.IDX_JOBS, q, "SORTBY", "lastRunAt", "DESC",
                            "LIMIT", 0, limit, "DIALECT", 2)
    return decode_docs(res), int(res[0])
