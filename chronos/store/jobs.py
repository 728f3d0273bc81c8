"""Job documents: registration upserts, lookups and search."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import orjson
from redis import Redis
from redis.client import Pipeline

from chronos import keys, search
from chronos.store.query import Page, decode_docs
from chronos.timeutil import next_fire, now_ms

# Fields a registration owns; everything else on the document belongs to the runtime.
DEFINITION_FIELDS = (
    "name", "schedule", "runMode", "version", "signatureHash", "orgId", "appId", "runAt", "timezone",
    "graceSeconds", "tags", "description", "maxRuntimeSeconds",
)
RUNTIME_DEFAULTS: dict[str, Any] = {
    "consecutiveFailures": 0,
    "totalRuns": 0,
    "totalFailures": 0,
    "state": "new",
}
SORTS = {
    "name": ("name", True), "-name": ("name", False),
    "lastRunAt": ("lastRunAt", True), "-lastRunAt": ("lastRunAt", False),
    "nextRunAt": ("nextRunAt", True), "-nextRunAt": ("nextRunAt", False),
    "createdAt": ("createdAt", True), "-createdAt": ("createdAt", False),
    "failures": ("consecutiveFailures", False),
}


def new_job_doc(owner: str, job_id: str, *, registered: bool, name: str | None = None,
                at_ms: int | None = None) -> dict[str, Any]:
    """A fresh job document; ``registered`` is False when the job is only known from its executions."""
    at = at_ms if at_ms is not None else now_ms()
    return {
        "id": job_id, "owner": owner, "name": name or job_id, "tags": [],
        "registered": "yes" if registered else "no", "createdAt": at, "updatedAt": at,
        **RUNTIME_DEFAULTS,
    }


def upsert(r: Redis, owner: str, definitions: Iterable[dict[str, Any]], *,
           pipe: Pipeline | None = None) -> list[dict[str, Any]]:
    """Create or update jobs from validated definitions (camelCase keys, times in ms).

    Runtime fields (last run, counters, state) are never overwritten. Returns the definitions
    as stored, each with its computed ``nextRunAt``.
    """
    p = pipe if pipe is not None else r.pipeline(transaction=False)
    now = now_ms()
    stored = []
    for d in definitions:
        key = keys.job(owner, d["id"])
        patch = {f: d[f] for f in DEFINITION_FIELDS if d.get(f) is not None}
        patch["registered"] = "yes"
        patch["updatedAt"] = now
        nxt = compute_next_run(d, now)
        if nxt is not None:
            patch["nextRunAt"] = nxt
        p.execute_command("JSON.SET", key, "$", orjson.dumps(new_job_doc(owner, d["id"], registered=True, at_ms=now)), "NX")
        p.execute_command("JSON.MERGE", key, "$", orjson.dumps(patch))
        stored.append({"id": d["id"], **patch})
    if pipe is None:
        p.execute()
    return stored


def compute_next_run(definition: dict[str, Any], after_ms: int) -> int | None:
    """Next due time: the cron's next match in the job's timezone, or ``runAt`` for a one-time job."""
    if definition.get("runMode") == "once":
        run_at = definition.get("runAt")
        if run_at is not None:
            return run_at if run_at > after_ms else None
    schedule = definition.get("schedule")
    if schedule:
        return next_fire(schedule, definition.get("timezone"), after_ms)
    return None


def get(r: Redis, owner: str, job_id: str) -> dict[str, Any] | None:
    raw = r.execute_command("JSON.GET", keys.job(owner, job_id))
    return orjson.loads(raw) if raw else None


def get_many(r: Redis, owner: str, job_ids: Iterable[str], path: str = "$") -> dict[str, Any]:
    """Job documents (or the value at ``path``) for those ids that exist, in one round trip."""
    ids = list(dict.fromkeys(job_ids))
    if not ids:
        return {}
    raws = r.execute_command("JSON.MGET", *[keys.job(owner, i) for i in ids], path)
    out = {}
    for job_id, raw in zip(ids, raws):
        if raw:
            value = orjson.loads(raw)
            out[job_id] = value[0] if isinstance(value, list) and value else value
    return out


def find_by_id(r: Redis, job_id: str) -> dict[str, Any] | None:
    """Any owner's job with that id (admins only); the oldest when several owners use it."""
    q = search.tag("id", job_id)
    res = r.execute_command("FT.SEARCH", keys.IDX_JOBS, q, "SORTBY", "createdAt", "ASC", "LIMIT", 0, 1, "DIALECT", 2)
    docs = decode_docs(res)
    return docs[0] if docs else None


@dataclass(frozen=True)
class JobQuery:
    owner: str | None  # None: every owner (admins)
    q: str = ""
    tag: str | None = None
    status: str | None = None
    app: str | None = None
    registered: str | None = None
    sort: str = "name"
    offset: int = 0
    limit: int = 50

    def to_query(self) -> str:
        return search.join([
            search.tag("owner", self.owner) if self.owner else None,
            search.text(self.q, ["name"]) if self.q else None,
            search.tag("tags", self.tag) if self.tag else None,
            search.tag("lastStatus", self.status) if self.status else None,
            search.tag("appId", self.app) if self.app else None,
            search.tag("registered", self.registered) if self.registered else None,
        ])


def search_jobs(r: Redis, query: JobQuery) -> Page:
    field, asc = SORTS.get(query.sort, SORTS["name"])
    res = r.execute_command(
        "FT.SEARCH", keys.IDX_JOBS, query.to_query(),
        "SORTBY", field, "ASC" if asc else "DESC",
        "LIMIT", query.offset, query.limit, "DIALECT", 2,
    )
    return Page(total=int(res[0]), items=decode_docs(res), offset=query.offset, limit=query.limit)


def count(r: Redis, owner: str | None, clause: str | None = None) -> int:
    q = search.join([search.tag("owner", owner) if owner else None, clause])
    res = r.execute_command("FT.SEARCH", keys.IDX_JOBS, q, "LIMIT", 0, 0, "DIALECT", 2)
    return int(res[0])
