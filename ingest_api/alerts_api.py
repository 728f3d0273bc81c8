"""Alert channels, per-job rules, history and "send test", and a job's monitoring flips. Owner-scoped.

Reads need the ``read`` scope; changes need ``ingest`` (what a member's session or an SDK key has).
"""
from __future__ import annotations

from typing import Any

from flask import g, jsonify, request

from chronos.db import store
from chronos.scheduling import alerts, flips
from chronos.scheduling.notify import send_test
from chronos.timeutil import now_ms, to_iso
from ingest_api import bp
from ingest_api.auth import require
from ingest_api.errors import ApiError
from ingest_api.ingest import json_body
from ingest_api.read import load_job


def _at(entry: dict[str, Any]) -> dict[str, Any]:
    out = dict(entry)
    if isinstance(out.get("at"), (int, float)):
        out["at"] = to_iso(int(out["at"]))
    return out


def _limit(default: int = 100, cap: int = 1000) -> int:
    try:
        value = int(request.args.get("limit", default))
    except ValueError:
        raise ApiError("limit must be an integer", 400) from None
    return max(1, min(value, cap))


@bp.get("/alerts/channels")
@require("read")
def list_alert_channels():
    return jsonify({"items": [alerts.public_channel(c) for c in alerts.list_channels(store.client, g.principal.owner)]})


@bp.post("/alerts/channels")
@require("ingest")
def create_alert_channel():
    """Create a channel. A webhook's signing secret is in this answer only (generated when not given)."""
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError("expected a JSON object", 400)
    try:
        doc = alerts.create_channel(store.client, g.principal.owner, body,
                                    outbound_allow=store.settings.chronos_outbound_allow, now=now_ms())
    except alerts.AlertConfigError as exc:
        raise ApiError(str(exc), 400, code="validation_failed") from None
    return jsonify(doc), 201


def _channel(channel_id: str) -> dict[str, Any]:
    doc = alerts.get_channel(store.client, g.principal.owner, channel_id)
    if doc is None:
        raise ApiError(f"no alert channel {channel_id!r}", 404)
    return doc


@bp.delete("/alerts/channels/<channel_id>")
@require("ingest")
def delete_alert_channel(channel_id: str):
    _channel(channel_id)
    alerts.delete_channel(store.client, g.principal.owner, channel_id)
    return jsonify({"deleted": channel_id})


@bp.post("/alerts/channels/<channel_id>/test")
@require("ingest")
def test_alert_channel(channel_id: str):
    """Send a test alert now; answers with the delivery's outcome (also kept in the history)."""
    entry = send_test(store.client, store.settings, _channel(channel_id), now_ms())
    return jsonify(_at(entry)), (200 if entry["status"] == "test" else 502)


@bp.get("/alerts/history")
@require("read")
def alert_history():
    items = alerts.history(store.client, g.principal.owner, job_id=request.args.get("jobId") or None,
                           limit=_limit())
    return jsonify({"items": [_at(a) for a in items]})


@bp.get("/jobs/<path:job_id>/alert-rules")
@require("read")
def get_alert_rules(job_id: str):
    job = load_job(job_id)
    return jsonify({"jobId": job["id"], "rules": alerts.get_rules(store.client, job["owner"], job["id"])})


@bp.put("/jobs/<path:job_id>/alert-rules")
@require("ingest")
def put_alert_rules(job_id: str):
    """Replace the job's rules: ``{rules: [{channelId, events: [failure|missed|timeout|recovery]}]}``."""
    job = load_job(job_id)
    if job["owner"] != g.principal.owner:
        raise ApiError("only the job's owner can change its alert rules", 403)
    body = json_body()
    rules = body.get("rules") if isinstance(body, dict) else None
    if not isinstance(rules, list):
        raise ApiError("rules: expected a list", 400, code="validation_failed")
    try:
        saved = alerts.set_rules(store.client, job["owner"], job["id"], rules)
    except alerts.AlertConfigError as exc:
        raise ApiError(str(exc), 400, code="validation_failed") from None
    return jsonify({"jobId": job["id"], "rules": saved})


@bp.get("/jobs/<path:job_id>/flips")
@require("read")
def job_flips(job_id: str):
    """The job's monitoring state changes, newest first: ``{from, to, reason, at}``."""
    job = load_job(job_id)
    items = flips.list_flips(store.client, job["owner"], job["id"], limit=_limit())
    return jsonify({"jobId": job["id"], "state": job.get("state", "new"), "items": [_at(f) for f in items],
                    "total": flips.count_flips(store.client, job["owner"], job["id"])})
