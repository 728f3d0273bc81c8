"""NDJSON batches: ``/api/batches`` (submit, list, status, records, retry-failed, cancel).

    POST /api/batches                      NDJSON body (config line, then records) -> 202 {job_id}
    GET  /api/batches?state=&limit=&offset=
    GET  /api/batches/<id>                 counts, latency min/avg/p50/p95/max, throughput, histogram
    GET  /api/batches/<id>/records?status=failed|delivered|pending|all&after=<seq>&limit=
    GET  /api/batches/<id>/rejected        submission lines that were skipped, with line numbers
    POST /api/batches/<id>/retry-failed    send a completed batch's failed records again
    POST /api/batches/<id>/cancel

Submitting needs the ``ingest`` scope, reading ``read``. A batch belongs to the key's owner; another owner's
batch answers 404.
"""
from __future__ import annotations

from typing import Any

from flask import current_app, g, jsonify, request

from chronos.batches import store as batch_store
from chronos.batches.lua import BatchScripts
from chronos.batches.model import BATCH_STATES, BatchRejected
from chronos.batches.submit import UploadAborted, submit
from chronos.db import store
from ingest_api import bp
from ingest_api.auth import require
from ingest_api.errors import ApiError

NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/ndjson", "application/x-jsonlines")
RECORD_STATUSES = ("failed", "delivered", "pending", "all")


def scripts() -> BatchScripts:
    """The batch scripts, registered once per app."""
    found = current_app.extensions.get("chronos_batches")
    if found is None:
        found = current_app.extensions["chronos_batches"] = BatchScripts(store.client)
    return found


def accept_upload(owner: str):
    """Read the NDJSON body of this request into a new batch of ``owner``; the 202 answer."""
    ctype = (request.mimetype or "").lower()
    if ctype not in NDJSON_TYPES:
        raise ApiError("send the batch as application/x-ndjson or application/jsonl", 415)
    if request.headers.get("Content-Encoding", "identity").lower() not in ("", "identity"):
        raise ApiError("compressed batch uploads are not supported", 415)
    settings = store.settings
    request.max_content_length = settings.chronos_batch_max_bytes or None
    try:
        sub = submit(store.client, scripts(), owner, request.stream, settings, request.content_length)
    except BatchRejected as exc:
        raise ApiError(exc.message, 400, code=exc.code, details=exc.details) from None
    except UploadAborted as exc:
        raise ApiError(str(exc), exc.status) from None
    resp = jsonify(sub.to_dict())
    resp.status_code = 202
    resp.headers["X-Job-ID"] = sub.batch_id
    resp.headers["Location"] = f"/api/batches/{sub.batch_id}"
    return resp


def _int_arg(name: str, default: int, lo: int, hi: int) -> int:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(f"{name} must be an integer", 400) from None
    if not lo <= value <= hi:
        raise ApiError(f"{name} must be between {lo} and {hi}", 400)
    return value


def _batch(batch_id: str) -> dict[str, str]:
    raw = batch_store.load(store.client, batch_id, g.principal.owner)
    if raw is None:
        raise ApiError("no such batch", 404)
    return raw


@bp.post("/batches")
@require("ingest")
def submit_batch():
    return accept_upload(g.principal.owner)


@bp.get("/batches")
@require("read")
def list_batches():
    state = request.args.get("state") or None
    if state and state not in BATCH_STATES:
        raise ApiError(f"state must be one of {', '.join(BATCH_STATES)}", 400)
    limit = _int_arg("limit", 50, 1, 500)
    offset = _int_arg("offset", 0, 0, 1_000_000)
    items, total = batch_store.list_batches(store.client, g.principal.owner, limit=limit, offset=offset,
                                            state=state)
    return jsonify({"batches": items, "total": total, "limit": limit, "offset": offset})


@bp.get("/batches/<batch_id>")
@require("read")
def get_batch(batch_id: str):
    found = batch_store.view(store.client, batch_id, g.principal.owner)
    if found is None:
        raise ApiError("no such batch", 404)
    return jsonify(found)


@bp.get("/batches/<batch_id>/records")
@require("read")
def batch_records(batch_id: str):
    raw = _batch(batch_id)
    status = request.args.get("status") or "all"
    if status not in RECORD_STATUSES:
        raise ApiError(f"status must be one of {', '.join(RECORD_STATUSES)}", 400)
    limit = _int_arg("limit", 100, 1, 1000)
    after = _int_arg("after", -1, -1, 2**40)
    items, cursor = batch_store.records(store.client, raw, status, after, limit)
    body: dict[str, Any] = {"records": items, "next": cursor, "status": status, "limit": limit}
    return jsonify(body)


@bp.get("/batches/<batch_id>/rejected")
@require("read")
def batch_rejected(batch_id: str):
    raw = _batch(batch_id)
    limit = _int_arg("limit", 100, 1, batch_store.REJECTED_KEPT)
    return jsonify({"rejected": batch_store.rejected_lines(store.client, batch_id, limit),
                    "total": int(raw.get("rejectedLines") or 0)})


@bp.post("/batches/<batch_id>/retry-failed")
@require("ingest")
def retry_failed(batch_id: str):
    raw = _batch(batch_id)
    try:
        n = batch_store.retry_failed(store.client, scripts(), batch_id, raw["owner"])
    except batch_store.RetryRefused as exc:
        raise ApiError(exc.reason, 409) from None
    return jsonify({"requeued": n, "batch": batch_store.view(store.client, batch_id, raw["owner"])})


@bp.post("/batches/<batch_id>/cancel")
@require("ingest")
def cancel_batch(batch_id: str):
    raw = _batch(batch_id)
    changed = batch_store.cancel(store.client, scripts(), batch_id, raw["owner"])
    return jsonify({"cancelled": changed, "batch": batch_store.view(store.client, batch_id, raw["owner"])})
