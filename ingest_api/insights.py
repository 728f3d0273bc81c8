"""Insights API: anomalies, error groups, scheduling and retry advice, LLM explanations, the analytics query.

Every answer is scoped to ``g.principal.owner_filter()``; a job or execution of another owner is a 404.
"""
from __future__ import annotations

from flask import Response, g, jsonify, request

from chronos.db import store
from chronos.insights import anomalies, errors, llm, query, schedule
from chronos.insights.history import QueryTooLarge
from chronos.insights.jobs import job_report
from chronos.store import executions as exec_store
from chronos.timeutil import now_ms, to_iso, zone
from ingest_api import bp
from ingest_api.auth import require
from ingest_api.errors import ApiError, error_response
from ingest_api.read import instant_arg, load_job

DAY_MS = 86_400_000


@bp.errorhandler(QueryTooLarge)
def _too_large(exc: QueryTooLarge):
    return error_response(str(exc), 400, "query_too_large")


def _window(default_ms: int, max_ms: int | None = None) -> tuple[int, int]:
    to = instant_arg("to") or now_ms()
    frm = instant_arg("from") or to - default_ms
    if frm >= to:
        raise ApiError("from must be before to", 400)
    if max_ms is not None and to - frm > max_ms:
        raise ApiError(f"the range is at most {max_ms // DAY_MS} days", 400)
    return frm, to


def _limit(default: int, maximum: int) -> int:
    try:
        value = int(request.args.get("limit", default))
    except ValueError:
        raise ApiError("limit must be an integer", 400) from None
    if value < 1:
        raise ApiError("limit must be >= 1", 400)
    return min(value, maximum)


@bp.get("/insights/anomalies")
@require("read")
def insights_anomalies():
    frm, to = _window(DAY_MS, 31 * DAY_MS)
    job_id = request.args.get("jobId") or None
    owner = load_job(job_id)["owner"] if job_id else g.principal.owner_filter()
    return jsonify(anomalies.find_anomalies(store.client, store.settings, owner, from_ms=frm, to_ms=to,
                                            job_id=job_id))


@bp.get("/insights/errors")
@require("read")
def insights_errors():
    frm, to = _window(7 * DAY_MS)
    job_id = request.args.get("jobId") or None
    owner = load_job(job_id)["owner"] if job_id else g.principal.owner_filter()
    items = errors.error_groups(store.client, owner, from_ms=frm, to_ms=to, job_id=job_id,
                                limit=_limit(50, errors.MAX_GROUPS))
    return jsonify({"from": to_iso(frm), "to": to_iso(to), "items": items})


@bp.get("/insights/errors/<fingerprint>")
@require("read")
def insights_error_group(fingerprint: str):
    frm, to = _window(7 * DAY_MS)
    group = errors.error_group(store.client, g.principal.owner_filter(), fingerprint, from_ms=frm, to_ms=to,
                               limit=_limit(20, 100))
    if group is None:
        raise ApiError(f"no error group {fingerprint!r}", 404)
    return jsonify(group)


@bp.get("/insights/schedule")
@require("read")
def insights_schedule():
    frm, to = _window(schedule.DEFAULT_DAYS * DAY_MS, 90 * DAY_MS)
    tz = request.args.get("tz") or None
    try:
        zone(tz)
    except ValueError as exc:
        raise ApiError(f"tz: {exc}", 400) from None
    job_id = request.args.get("jobId") or None
    job = load_job(job_id) if job_id else None
    owner = job["owner"] if job else g.principal.owner_filter()
    out = schedule.heatmap(store.client, owner, from_ms=frm, to_ms=to, tz=tz, job_id=job_id)
    if job:
        out["suggestion"] = schedule.suggest_slot(store.client, job["owner"], job, from_ms=frm, to_ms=to)
    return jsonify(out)


@bp.get("/insights/jobs/<path:job_id>")
@require("read")
def insights_job(job_id: str):
    job = load_job(job_id)
    frm, to = _window(DAY_MS, 31 * DAY_MS)
    return jsonify(job_report(store.client, store.settings, job, from_ms=frm, to_ms=to))


@bp.post("/executions/<path:exec_id>/explain")
@require("read")
def explain_execution(exec_id: str):
    owner = g.principal.owner_filter()
    doc = exec_store.get(store.client, owner or g.principal.owner, exec_id)
    if doc is None and owner is None:
        doc = exec_store.find_by_id(store.client, exec_id)
    if doc is None:
        raise ApiError(f"no execution {exec_id!r}", 404)
    try:
        answer = llm.explain(store.client, store.settings, doc, refresh=request.args.get("refresh") in ("1", "true"))
    except llm.LlmDisabled as exc:
        raise ApiError(str(exc), 409, code="llm_disabled") from None
    except llm.LlmRefused as exc:
        raise ApiError(str(exc), 409, code="llm_refused") from None
    except llm.NothingToExplain as exc:
        raise ApiError(str(exc), 409, code="nothing_to_explain") from None
    except llm.LlmUpstreamError as exc:
        raise ApiError(str(exc), 502, code="llm_upstream_error",
                       details={"upstreamStatus": exc.status} if exc.status else None) from None
    return jsonify(answer)


@bp.get("/analytics/query")
@require("read")
def analytics_query():
    try:
        spec = query.QuerySpec.from_args(request.args)
    except query.QueryError as exc:
        raise ApiError(str(exc), 400) from None
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "csv"):
        raise ApiError("format must be json or csv", 400)
    result = query.run(store.client, g.principal.owner_filter(), spec)
    if fmt == "csv":
        name = f"chronos-{spec.metric.replace('.', '-')}-{spec.bucket}.csv"
        return Response(query.to_csv(result), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"',
                                 "X-Truncated": "true" if result["truncated"] else "false"})
    return jsonify(result)

