"""Read API for the dashboard and data teams: jobs, executions, analytics. Owner-scoped."""
from __future__ import annotations

from typing import Any

from flask import g, jsonify, request

from chronos import analytics, pings
from chronos.db import store
from chronos.store import executions as exec_store
from chronos.store import jobs as job_store
from chronos.store import metrics
from chronos.store.query import Page
from chronos.telemetry import STATUSES
from chronos.timeutil import now_ms, parse_instant, to_iso
from ingest_api import bp
from ingest_api.auth import require
from ingest_api.errors import ApiError

MAX_LIMIT = 200
TIME_FIELDS = ("startedAt", "finishedAt", "receivedAt", "createdAt", "updatedAt", "lastRunAt", "nextRunAt", "runAt")


def to_api(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored document as the API shows it: instants as ISO-8601 strings, index-only fields dropped."""
    out = {k: v for k, v in doc.items() if k not in ("labelTags", "sortKey")}
    for f in TIME_FIELDS:
        if isinstance(out.get(f), (int, float)):
            out[f] = to_iso(int(out[f]))
    return out


def page_args() -> tuple[int, int]:
    try:
        limit = int(request.args.get("limit", 50))
        offset = int(request.args.get("cursor") or request.args.get("offset") or 0)
    except ValueError:
        raise ApiError("limit and cursor must be integers", 400) from None
    if limit < 1 or offset < 0:
        raise ApiError("limit must be >= 1 and cursor >= 0", 400)
    if offset > 100_000:
        raise ApiError("cursor too far: narrow the query with filters or a time range", 400)
    return offset, min(limit, MAX_LIMIT)


def instant_arg(name: str) -> int | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    try:
        return parse_instant(raw)
    except ValueError as exc:
        raise ApiError(f"{name}: {exc}", 400) from None


def page_response(page: Page) -> dict[str, Any]:
    nxt = page.next_offset
    return {"items": [to_api(d) for d in page.items], "total": page.total,
            "nextCursor": str(nxt) if nxt is not None else None}


def execution_page_args() -> tuple[exec_store.Cursor | None, int, int]:
    """(after, offset, limit) for the execution lists: ``cursor`` is a ``nextCursor`` token, or (as before
    tokens existed) a row offset, which ``offset`` may give too."""
    token = request.args.get("cursor") or ""
    if not token.startswith("k"):
        return (None, *page_args())
    try:
        after = exec_store.Cursor.from_token(token)
    except ValueError:
        raise ApiError("cursor: pass the nextCursor of the previous page", 400) from None
    try:
        limit = int(request.args.get("limit", 50))
    except ValueError:
        raise ApiError("limit must be an integer", 400) from None
    if limit < 1:
        raise ApiError("limit must be >= 1", 400)
    return after, 0, min(limit, MAX_LIMIT)


def execution_page_response(page: Page) -> dict[str, Any]:
    """A page of executions; ``nextCursor`` resumes after its last row, so a run recorded meanwhile never
    shifts the next page."""
    return {"items": [to_api(d) for d in page.items], "total": page.total, "nextCursor": page.next_cursor}


def _status_arg() -> tuple[str, ...]:
    raw = request.args.get("status", "")
    values = tuple(s for s in raw.split(",") if s)
    bad = [s for s in values if s not in STATUSES]
    if bad:
        raise ApiError(f"status must be among {', '.join(STATUSES)}", 400)
    return values


@bp.get("/jobs")
@require("read")
def list_jobs():
    offset, limit = page_args()
    q = job_store.JobQuery(
        owner=g.principal.owner_filter(), q=request.args.get("q", "")[:200],
        tag=request.args.get("tag") or None, status=request.args.get("status") or None,
        app=request.args.get("app") or None, registered=request.args.get("registered") or None,
        sort=request.args.get("sort", "name"), offset=offset, limit=limit,
    )
    return jsonify(page_response(job_store.search_jobs(store.client, q)))


def load_job(job_id: str) -> dict[str, Any]:
    owner = g.principal.owner_filter()
    doc = job_store.get(store.client, owner or g.principal.owner, job_id)
    if doc is None and owner is None:
        doc = job_store.find_by_id(store.client, job_id)
    if doc is None:
        raise ApiError(f"no job {job_id!r}", 404)
    return doc


@bp.get("/jobs/<path:job_id>/executions")
@require("read")
def job_executions(job_id: str):
    job = load_job(job_id)
    after, offset, limit = execution_page_args()
    q = exec_store.ExecutionQuery(owner=job["owner"], job_id=job["id"], status=_status_arg(),
                                  from_ms=instant_arg("from"), to_ms=instant_arg("to"), offset=offset, limit=limit,
                                  after=after)
    return jsonify(execution_page_response(exec_store.search_executions(store.client, q)))


def public_base() -> str:
    return (store.settings.chronos_public_url or request.host_url).rstrip("/")


@bp.get("/jobs/<path:job_id>")
@require("read")
def get_job(job_id: str):
    doc = load_job(job_id)
    ping_id = doc.get("pingId") or pings.ensure_ping_id(store.client, doc["owner"], doc["id"])
    out = to_api(doc)
    out["pingUrl"] = f"{public_base()}/ping/{ping_id}"
    return jsonify(out)


@bp.get("/ping-key")
@require("read")
def ping_key():
    """The caller's ping key, for slug ping URLs ``/ping/<key>/<jobId>``."""
    key = pings.ensure_ping_key(store.client, g.principal.owner)
    return jsonify({"pingKey": key, "slugUrlTemplate": f"{public_base()}/ping/{key}/<jobId>"})


@bp.get("/executions")
@require("read")
def list_executions():
    after, offset, limit = execution_page_args()
    q = exec_store.ExecutionQuery(
        owner=g.principal.owner_filter(), q=request.args.get("q", "")[:500], job_id=request.args.get("jobId") or None,
        status=_status_arg(), from_ms=instant_arg("from"), to_ms=instant_arg("to"),
        label=request.args.get("label") or None, app=request.args.get("app") or None,
        offset=offset, limit=limit, after=after,
    )
    return jsonify(execution_page_response(exec_store.search_executions(store.client, q)))


@bp.get("/executions/<path:exec_id>")
@require("read")
def get_execution(exec_id: str):
    owner = g.principal.owner_filter()
    doc = exec_store.get(store.client, owner or g.principal.owner, exec_id)
    if doc is None and owner is None:
        doc = exec_store.find_by_id(store.client, exec_id)
    if doc is None:
        raise ApiError(f"no execution {exec_id!r}", 404)
    return jsonify(to_api(doc))


def _range(default_hours: int = 24) -> tuple[int, int]:
    now = now_ms()
    to = instant_arg("to") or now
    frm = instant_arg("from") or to - default_hours * 3_600_000
    if frm >= to:
        raise ApiError("from must be before to", 400)
    return frm, to


@bp.get("/analytics/summary")
@require("read")
def analytics_summary():
    frm, to = _range()
    return jsonify(analytics.summary(store.client, store.settings, g.principal.owner_filter(), frm, to,
                                     job_id=request.args.get("jobId") or None))


@bp.get("/analytics/timeseries")
@require("read")
def analytics_timeseries():
    bucket = request.args.get("bucket", "1h")
    span = {"1m": 6, "1h": 48, "1d": 24 * 30, "1w": 24 * 7 * 26}.get(bucket, 24)
    frm, to = _range(span)
    group_by = request.args.get("groupBy") or None
    if group_by not in (None, "status", "job"):
        raise ApiError("groupBy must be status or job", 400)
    try:
        data = metrics.timeseries(
            store.client, g.principal.owner_filter(), metric=request.args.get("metric", "runs"), bucket=bucket,
            from_ms=frm, to_ms=to, job_id=request.args.get("jobId") or None, group_by=group_by,
        )
    except ValueError as exc:
        raise ApiError(str(exc), 400) from None
    data["from"], data["to"] = to_iso(frm), to_iso(to)
    return jsonify(data)
