"""API keys of the calling user: list, create (the secret is shown once), revoke."""
from __future__ import annotations

from flask import g, jsonify, request

from chronos.db import store
from chronos.store import users
from ingest_api import bp
from ingest_api.auth import require
from ingest_api.errors import ApiError


def _may_manage_keys() -> None:
    p = g.principal
    if p.role == "viewer":
        raise ApiError("viewers cannot manage API keys", 403)
    if p.key_id is not None and "admin" not in p.scopes:
        raise ApiError("managing keys with an API key needs the 'admin' scope", 403)


@bp.get("/keys")
@require("read")
def list_keys():
    return jsonify({"items": [k.to_dict() for k in users.list_keys(store.client, g.principal.owner)]})


@bp.post("/keys")
@require("read")
def create_key():
    _may_manage_keys()
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):
        raise ApiError("expected a JSON object", 400)
    name = str(body.get("name") or "default")[:100]
    scopes = body.get("scopes") or ["ingest", "read"]
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise ApiError("scopes must be a list of strings", 400)
    if "admin" in scopes and g.principal.role != "admin":
        raise ApiError("only admins can create keys with the 'admin' scope", 403)
    try:
        secret, key = users.create_key(store.client, g.principal.owner, name=name, scopes=tuple(scopes))
    except ValueError as exc:
        raise ApiError(str(exc), 400) from None
    return jsonify({"key": secret, **key.to_dict()}), 201


@bp.delete("/keys/<key_id>")
@require("read")
def revoke_key(key_id: str):
    _may_manage_keys()
    owner = None if g.principal.is_admin and request.args.get("owner") == "all" else g.principal.owner
    if not users.revoke_key(store.client, owner, key_id):
        raise ApiError(f"no key {key_id!r}", 404)
    return jsonify({"revoked": key_id})
