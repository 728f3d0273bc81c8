"""Status badges: owner-scoped URLs (``GET /api/badges``, ``POST /api/badges/rotate``) and the public
badges themselves at ``/api/badges/<token>.svg`` and ``.json`` (no key: the token is the secret)."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Response, g, jsonify, request

from chronos.db import store
from chronos.insights import badges
from chronos.store import jobs as job_store
from ingest_api import bp
from ingest_api.auth import require
from ingest_api.errors import ApiError
from ingest_api.read import load_job, public_base

NO_CACHE = {"Cache-Control": "no-cache, max-age=0", "X-Content-Type-Options": "nosniff"}


def _target(source: Any) -> tuple[str, str, str]:
    """(owner, kind, target) from ``jobId`` or ``tag``; the job must exist for the caller."""
    job_id, tag = source.get("jobId"), source.get("tag")
    if bool(job_id) == bool(tag):
        raise ApiError("give exactly one of jobId or tag", 400)
    if job_id:
        if not isinstance(job_id, str):
            raise ApiError("jobId must be a string", 400)
        job = load_job(job_id)
        return job["owner"], "job", job["id"]
    if not isinstance(tag, str) or not 0 < len(tag) <= 100:
        raise ApiError("tag must be 1-100 characters", 400)
    owner = g.principal.owner
    if job_store.search_jobs(store.client, job_store.JobQuery(owner=owner, tag=tag, limit=1)).total == 0:
        raise ApiError(f"no job has the tag {tag!r}", 404)
    return owner, "tag", tag


def _urls(token: str, kind: str, target: str) -> dict[str, Any]:
    base = f"{public_base()}/api/badges/{token}"
    return {"kind": kind, "target": target, "token": token, "svg": f"{base}.svg", "json": f"{base}.json",
            "shields": f"https://img.shields.io/endpoint?url={quote(base + '.json', safe='')}",
            "markdown": f"![{target}]({base}.svg)"}


@bp.get("/badges")
@require("read")
def badge_urls():
    owner, kind, target = _target(request.args)
    return jsonify(_urls(badges.ensure_token(store.client, owner, kind, target), kind, target))


@bp.post("/badges/rotate")
@require("ingest")
def rotate_badge():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError("expected a JSON object with jobId or tag", 400)
    owner, kind, target = _target(body)
    return jsonify(_urls(badges.rotate_token(store.client, owner, kind, target), kind, target))


def _resolve(token: str) -> tuple[str, str]:
    target = badges.resolve(store.client, token)
    shown = badges.badge_for(store.client, target) if target else None
    if shown is None:
        raise ApiError("no such badge", 404, headers=NO_CACHE)
    return shown


@bp.get("/badges/<token>.svg")
def badge_svg(token: str):
    label, status = _resolve(token)
    return Response(badges.svg(label, status), mimetype="image/svg+xml", headers=NO_CACHE)


@bp.get("/badges/<token>.json")
def badge_json(token: str):
    label, status = _resolve(token)
    resp = jsonify(badges.shields_json(label, status))
    resp.headers.update(NO_CACHE)
    return resp
