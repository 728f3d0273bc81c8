"""Synapse-compatible ingestion: ``/api/ingest/jobs/register`` and ``/api/ingest/executions/batch``."""
from __future__ import annotations

import gzip
import zlib
from typing import Any

import orjson
from flask import g, jsonify, request
from pydantic import ValidationError

from chronos.db import store
from chronos.timeutil import now_ms
from chronos.store import executions as exec_store
from chronos.store import ingest_queue
from chronos.store import jobs as job_store
from chronos.telemetry import MAX_NESTING, nesting
from ingest_api import bp
from ingest_api.auth import require
from ingest_api.errors import ApiError
from ingest_api.schemas import ExecutionBatch, ExecutionEvent, JobDefinition, RegisterPayload, describe


def json_body() -> Any:
    """The request's JSON (gzip or deflate bodies accepted), or ApiError 400/413/415."""
    max_bytes = store.settings.chronos_max_body_bytes
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(f"request body over {max_bytes} bytes", 413)
    ctype = (request.mimetype or "").lower()
    if ctype and ctype != "application/json" and not ctype.endswith("+json"):
        raise ApiError("send the body as application/json", 415)
    raw = request.get_data(cache=False)
    if len(raw) > max_bytes:
        raise ApiError(f"request body over {max_bytes} bytes", 413)
    encoding = request.headers.get("Content-Encoding", "").lower()
    if encoding in ("gzip", "deflate"):
        try:
            d = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
            raw = d.decompress(raw, max_bytes + 1)
        except (zlib.error, gzip.BadGzipFile):
            raise ApiError(f"body is not valid {encoding}", 400) from None
        if len(raw) > max_bytes or d.unconsumed_tail:
            raise ApiError(f"decompressed body over {max_bytes} bytes", 413)
    elif encoding not in ("", "identity"):
        raise ApiError(f"unsupported Content-Encoding {encoding!r}", 415)
    if not raw:
        raise ApiError("empty body: expected a JSON object", 400)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(f"malformed JSON: {exc}", 400, code="malformed_json") from None


def _validate_items(model: type, items: list[Any], label: str) -> list[Any]:
    valid, errors = [], []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append({"index": i, "field": label, "message": "must be an object"})
            continue
        if nesting(item) > MAX_NESTING + 1:  # the item itself is one level
            errors.append({"index": i, "field": label, "message": f"nested deeper than {MAX_NESTING} levels"})
            continue
        try:
            valid.append(model.model_validate(item))
        except ValidationError as exc:
            for d in describe(exc):
                errors.append({"index": i, **d})
    if errors:
        first = errors[0]
        raise ApiError(
            f"{label}[{first['index']}].{first['field']}: {first['message']}"
            + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
            400, code="validation_failed", details=errors[:100],
        )
    return valid


@bp.post("/ingest/jobs/register")
@require("ingest")
def register_jobs():
    """Create or update jobs (idempotent). Nothing is stored when any definition is invalid."""
    try:
        payload = RegisterPayload.model_validate(json_body())
    except ValidationError as exc:
        raise ApiError(describe(exc)[0]["field"] + ": " + describe(exc)[0]["message"], 400,
                       code="validation_failed", details=describe(exc)) from None
    defs = _validate_items(JobDefinition, payload.jobs, "jobs")
    seen: set[str] = set()
    dupes = [d.id for d in defs if d.id in seen or seen.add(d.id)]  # type: ignore[func-returns-value]
    if dupes:
        raise ApiError(f"duplicate job id in one request: {dupes[0]}", 400, code="validation_failed")
    definitions = []
    for d in defs:
        data = d.model_dump(exclude_none=True)
        extra = d.model_extra or {}
        for k in extra:
            data.pop(k, None)
        if extra:
            data["extra"] = extra
        definitions.append(data)
    stored = job_store.upsert(store.client, g.principal.owner, definitions)
    return jsonify({"registered": len(stored), "jobs": [_job_out(s) for s in stored]})


def _job_out(doc: dict[str, Any]) -> dict[str, Any]:
    from chronos.timeutil import to_iso

    out = dict(doc)
    for f in ("nextRunAt", "runAt", "updatedAt"):
        if isinstance(out.get(f), int):
            out[f] = to_iso(out[f])
    return out


@bp.post("/ingest/executions/batch")
@require("ingest")
def ingest_executions():
    """Record up to ``CHRONOS_MAX_BATCH_EVENTS`` execution events, idempotently by execId.

    All or nothing: when any event is invalid the answer is 400 naming each bad event by index and
    nothing of the batch is stored, so a corrected re-send cannot double-count.
    """
    try:
        payload = ExecutionBatch.model_validate(json_body())
    except ValidationError as exc:
        raise ApiError("executions: " + describe(exc)[0]["message"], 400, code="validation_failed",
                       details=describe(exc)) from None
    limit = store.settings.chronos_max_batch_events
    if len(payload.executions) > limit:
        raise ApiError(f"at most {limit} executions per batch (got {len(payload.executions)})", 413,
                       code="batch_too_large")
    events = [e.to_event() for e in _validate_items(ExecutionEvent, payload.executions, "executions")]
    if store.settings.chronos_ingest_queue:
        return _enqueue(events)
    result = exec_store.record(store.client, store.scripts, g.principal.owner, events, store.settings)
    return jsonify(result.to_dict())


def _enqueue(events: list[dict[str, Any]]):
    """Queued ingestion: 202 once the batch is in the ingest queue (recorded within moments by the web
    workers' recorders; duplicates are then counted once but not reported here), 503 when the queue is full."""
    limit = store.settings.chronos_ingest_queue_limit
    if not ingest_queue.enqueue(store.client, store.scripts, g.principal.owner, events, now_ms(), limit):
        raise ApiError(f"the ingest queue holds {limit} batches waiting to be recorded; retry shortly", 503,
                       code="queue_full", headers={"Retry-After": "5"})
    return jsonify({"accepted": len(events), "queued": len(events), "duplicates": 0}), 202
