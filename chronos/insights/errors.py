"""Error groups: failed runs that share the ingest-time fingerprint (``errorGroup``, see chronos.fingerprint).

A group is reported with its count in the window, when it was first seen (over everything still stored,
not only the window) and last seen, the jobs it touched, a sample execution and the normalised message.
"""
from __future__ import annotations

import re
from typing import Any

from redis import Redis

from chronos import keys, search
from chronos.fingerprint import normalize_message
from chronos.insights import history
from chronos.insights.history import aggregate, num, owner_clause
from chronos.store import executions as exec_store
from chronos.store.query import decode_docs
from chronos.timeutil import now_ms, to_iso

FINGERPRINT_RE = re.compile(r"^[0-9a-f]{16}$")
MAX_GROUPS = 200
MAX_JOB_IDS = 20
NEW_WINDOW_MS = 86_400_000
SAMPLE_FIELDS = ("execId", "jobId", "jobName", "status", "errorType", "errorMessage", "errorStack", "codeSnippet",
                 "codeLanguage", "startedAt", "finishedAt")


def _times(doc: dict[str, Any]) -> dict[str, Any]:
    for f in ("startedAt", "finishedAt"):
        if isinstance(doc.get(f), (int, float)):
            doc[f] = to_iso(int(doc[f]))
    return doc


def _group_rows(r: Redis, query: str, limit: int) -> list[dict[str, Any]]:
    return aggregate(
        r, query,
        "LOAD", 8, "@errorGroup", "@errorType", "@errorMessage", "$.execId", "AS", "execId", "@jobId", "@finishedAt",
        "GROUPBY", 1, "@errorGroup",
        "REDUCE", "COUNT", 0, "AS", "count",
        "REDUCE", "MIN", 1, "@finishedAt", "AS", "firstInRange",
        "REDUCE", "MAX", 1, "@finishedAt", "AS", "lastSeen",
        "REDUCE", "COUNT_DISTINCT", 1, "@jobId", "AS", "jobCount",
        "REDUCE", "TOLIST", 1, "@jobId", "AS", "jobIds",
        "REDUCE", "FIRST_VALUE", 4, "@execId", "BY", "@finishedAt", "DESC", "AS", "sampleExecId",
        "REDUCE", "FIRST_VALUE", 4, "@errorType", "BY", "@finishedAt", "DESC", "AS", "errorType",
        "REDUCE", "FIRST_VALUE", 4, "@errorMessage", "BY", "@finishedAt", "DESC", "AS", "errorMessage",
        "SORTBY", 4, "@count", "DESC", "@lastSeen", "DESC",
        "LIMIT", 0, limit + 1,  # one more: the runs without a group form a group of their own
        "DIALECT", 2,
    )


def first_seen_many(r: Redis, owner: str | None, fingerprints: list[str]) -> dict[str, int]:
    """The earliest stored finish of each group (over all stored executions, not a window)."""
    if not fingerprints:
        return {}
    q = search.join([owner_clause(owner), search.tag("errorGroup", fingerprints)])
    rows = aggregate(r, q, "LOAD", 2, "@errorGroup", "@finishedAt", "GROUPBY", 1, "@errorGroup",
                     "REDUCE", "MIN", 1, "@finishedAt", "AS", "first", "LIMIT", 0, len(fingerprints), "DIALECT", 2)
    return {row["errorGroup"]: int(num(row["first"]) or 0) for row in rows if row.get("errorGroup")}


def error_groups(r: Redis, owner: str | None, *, from_ms: int, to_ms: int, job_id: str | None = None,
                 limit: int = 50, fingerprint: str | None = None) -> list[dict[str, Any]]:
    """The error groups of failed runs finished in [from, to], most frequent first."""
    limit = max(1, min(limit, MAX_GROUPS))
    q = search.join([
        owner_clause(owner), search.tag("status", history.FAILED),
        search.tag("jobId", job_id) if job_id else None,
        search.tag("errorGroup", fingerprint) if fingerprint else None,
        search.numeric("finishedAt", from_ms, to_ms),
    ])
    rows = [row for row in _group_rows(r, q, limit) if row.get("errorGroup")][:limit]
    first = first_seen_many(r, owner, [row["errorGroup"] for row in rows])
    out = []
    for row in rows:
        fp = row["errorGroup"]
        first_ms = first.get(fp) or int(num(row["firstInRange"]) or 0)
        message = row.get("errorMessage") or ""
        job_ids = row.get("jobIds") or []
        out.append({
            "fingerprint": fp, "count": int(num(row["count"]) or 0),
            "firstSeen": to_iso(first_ms), "lastSeen": to_iso(int(num(row["lastSeen"]) or 0)),
            "isNew": first_ms >= from_ms,
            "jobCount": int(num(row["jobCount"]) or 0),
            "jobIds": sorted(job_ids if isinstance(job_ids, list) else [job_ids])[:MAX_JOB_IDS],
            "sampleExecId": row.get("sampleExecId"), "errorType": row.get("errorType"),
            "message": normalize_message(message), "sampleMessage": message[:500],
        })
    return out


def _timeline(r: Redis, query: str, from_ms: int, to_ms: int) -> dict[str, Any]:
    bucket = 3_600_000 if to_ms - from_ms <= 2 * 86_400_000 else 86_400_000
    rows = aggregate(r, query, "LOAD", 1, "@finishedAt", "APPLY", f"floor(@finishedAt/{bucket})*{bucket}", "AS", "b",
                     "GROUPBY", 1, "@b", "REDUCE", "COUNT", 0, "AS", "n", "SORTBY", 2, "@b", "ASC",
                     "LIMIT", 0, 10_000, "DIALECT", 2)
    return {"bucket": "1h" if bucket == 3_600_000 else "1d",
            "points": [[to_iso(int(num(x["b"]) or 0)), int(num(x["n"]) or 0)] for x in rows]}


def error_group(r: Redis, owner: str | None, fingerprint: str, *, from_ms: int, to_ms: int,
                limit: int = 20) -> dict[str, Any] | None:
    """One group: its summary in [from, to], the jobs it touched, a timeline, the newest executions (any time)
    and the stack of the newest one. None when no stored execution has that fingerprint."""
    if not FINGERPRINT_RE.fullmatch(fingerprint):
        return None
    q_all = search.join([owner_clause(owner), search.tag("errorGroup", fingerprint)])
    res = r.execute_command("FT.SEARCH", keys.IDX_EXECUTIONS, q_all, "SORTBY", "finishedAt", "DESC",
                            "LIMIT", 0, max(1, limit), "DIALECT", 2)
    docs = decode_docs(res)
    if not docs:
        return None
    q_win = search.join([q_all, search.numeric("finishedAt", from_ms, to_ms)])
    summary = error_groups(r, owner, from_ms=from_ms, to_ms=to_ms, fingerprint=fingerprint, limit=1)
    newest = docs[0]
    group = summary[0] if summary else {
        "fingerprint": fingerprint, "count": 0, "firstSeen": None, "lastSeen": to_iso(newest.get("finishedAt")),
        "isNew": False, "jobCount": 0, "jobIds": [], "sampleExecId": newest.get("execId"),
        "errorType": newest.get("errorType"), "message": normalize_message(newest.get("errorMessage") or ""),
        "sampleMessage": (newest.get("errorMessage") or "")[:500],
    }
    if not summary:
        group["firstSeen"] = to_iso(first_seen_many(r, owner, [fingerprint]).get(fingerprint))
    jobs = aggregate(r, q_win, "LOAD", 3, "@jobId", "@jobName", "@finishedAt", "GROUPBY", 1, "@jobId",
                     "REDUCE", "COUNT", 0, "AS", "count", "REDUCE", "MAX", 1, "@finishedAt", "AS", "lastSeen",
                     "REDUCE", "FIRST_VALUE", 4, "@jobName", "BY", "@finishedAt", "DESC", "AS", "jobName",
                     "SORTBY", 2, "@count", "DESC", "LIMIT", 0, 100, "DIALECT", 2)
    return {
        **group,
        "from": to_iso(from_ms), "to": to_iso(to_ms),
        "jobs": [{"jobId": j["jobId"], "jobName": j.get("jobName"), "count": int(num(j["count"]) or 0),
                  "lastSeen": to_iso(int(num(j["lastSeen"]) or 0))} for j in jobs],
        "timeline": _timeline(r, q_win, from_ms, to_ms),
        "sample": _times({k: newest.get(k) for k in SAMPLE_FIELDS}),
        "recent": [_times({k: d[k] for k in exec_store.LIST_FIELDS if k in d}) for d in docs],
    }


def first_seen(r: Redis, owner: str | None, fingerprint: str) -> int | None:
    """When the group's earliest stored execution finished (epoch ms), or None for an unknown group."""
    q = search.join([owner_clause(owner), search.tag("errorGroup", fingerprint)])
    res = r.execute_command("FT.SEARCH", keys.IDX_EXECUTIONS, q, "RETURN", 1, "finishedAt",
                            "SORTBY", "finishedAt", "ASC", "LIMIT", 0, 1, "DIALECT", 2)
    if not res[0] or len(res) < 3:
        return None
    fields = dict(zip(res[2][::2], res[2][1::2]))
    value = num(fields.get(b"finishedAt") or fields.get("finishedAt"))
    return int(value) if value is not None else None


def is_new_group(r: Redis, owner: str, fingerprint: str, *, window_ms: int = NEW_WINDOW_MS,
                 now: int | None = None) -> bool:
    """True when the group's first stored occurrence finished within the last ``window_ms`` (default 24 h):
    an error this owner has not seen before. False for a group with older occurrences or none at all."""
    first = first_seen(r, owner, fingerprint)
    if first is None:
        return False
    return first >= (now if now is not None else now_ms()) - window_ms
