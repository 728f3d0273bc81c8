"""The Go Chronos service's root paths, so its clients work by changing only the base URL.

    POST /run              NDJSON batch (application/x-ndjson or application/jsonl, else 415)
                           -> 202 {"message": "Job accepted", "job_id"}, header X-Job-ID
    GET  /status?key=<id>  {"Count", "MinTime", "MaxTime"} (RFC 3339) plus our fields beside them;
                           ``key`` is a job id or the caller's primarykey (its latest batch)
    GET  /info             ``ok``

They take the same API key as ``/api`` (``x-api-key`` or ``Authorization: Bearer``). A deployment that needs
keyless Go clients sets ``CHRONOS_GO_COMPAT_OWNER`` (a user id or email) and the calls without a key act as that
user; it is empty by default, and then a key is required.
"""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, Response, g, jsonify, request

from chronos.batches import store as batch_store
from chronos.db import store
from chronos.store import users
from ingest_api import errors
from ingest_api.auth import Principal, current_principal, presented_key
from ingest_api.batches import accept_upload
from ingest_api.errors import ApiError

bp = Blueprint("go_compat", __name__)
errors.register_handlers(bp)

GO_ZERO_TIME = "0001-01-01T00:00:00Z"


def _caller(scope: str) -> Principal:
    if presented_key():
        principal = current_principal()
    else:
        configured = store.settings.chronos_go_compat_owner.strip()
        user = None
        if configured:
            r = store.client
            user = users.get_user(r, configured) or users.find_user_by_email(r, configured)
        if user is None or user.get("disabled"):
            raise ApiError("authentication required: send an API key in x-api-key", 401,
                           headers={"WWW-Authenticate": 'Bearer realm="chronos"'})
        principal = Principal(owner=user["id"], role=user.get("role", "member"), scopes=("ingest", "read"),
                              key_id=None)
    if scope not in principal.scopes:
        raise ApiError(f"this key lacks the {scope!r} scope", 403)
    g.principal = principal
    return principal


def rfc3339(ms: int | None) -> str:
    """Go's time.Time JSON form (RFC 3339 with fractional seconds, UTC), or Go's zero time."""
    if not ms:
        return GO_ZERO_TIME
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{ms % 1000:03d}".rstrip("0").rstrip(".")) + "Z"


@bp.post("/run")
def run():
    return accept_upload(_caller("ingest").owner)


@bp.get("/status")
def status():
    principal = _caller("read")
    key = request.args.get("key", "")
    if not key:
        raise ApiError("missing parameter 'key'", 400)
    r = store.client
    batch_id = batch_store.find(r, principal.owner, key)
    raw = batch_store.load(r, batch_id, principal.owner) if batch_id else None
    if raw is None:
        raise ApiError("no such job", 404)
    summary = batch_store.view(r, batch_id, principal.owner) or {}
    first, last = int(raw.get("firstDoneAt") or 0), int(raw.get("lastDoneAt") or 0)
    body = {"Count": int(raw.get("delivered") or 0) + int(raw.get("failed") or 0),
            "MinTime": rfc3339(first), "MaxTime": rfc3339(last)}
    body.update(summary)
    return jsonify(body)


@bp.get("/info")
def info():
    return Response("ok", mimetype="text/plain")
