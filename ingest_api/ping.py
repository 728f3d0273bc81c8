"""Healthchecks-compatible ping endpoints, so curl one-liners, runitor and other Healthchecks clients report
to Chronos by changing only their base URL.

    /ping/<uuid>[/start|/fail|/log|/<exit status>]            the job's own ping URL
    /ping/<ping key>/<slug>[/start|/fail|/log|/<exit status>]  slug form; ?create=1 creates the job

HEAD, GET and POST; a POST body is the run's log (its last ``CHRONOS_MAX_LOG_BYTES`` bytes are kept, and the
``Ping-Body-Limit`` answer header says how many). ``?rid=<id>`` pairs a start with its finish.
"""
from __future__ import annotations

import re

from flask import Blueprint, Response, request

from chronos import pings
from chronos.db import store
from chronos.store import executions as exec_store
from ingest_api.schemas import ID_RE

bp = Blueprint("ping", __name__)

RID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
UUID_RE = re.compile(r"^[0-9a-fA-F-]{36}$")
METHODS = ["GET", "POST", "HEAD"]


def _text(body: str, status: int = 200) -> Response:
    resp = Response(body, status=status, mimetype="text/plain")
    resp.headers["Ping-Body-Limit"] = str(store.settings.chronos_max_log_bytes)
    return resp


def _handle(target: tuple[str, str] | None, signal: str) -> Response:
    if target is None:
        return _text("not found", 404)
    rid = request.args.get("rid")
    if rid is not None and not RID_RE.fullmatch(rid):
        return _text("invalid rid", 400)
    owner, job_id = target
    r = store.client
    body = request.get_data(cache=False, as_text=True) if request.method == "POST" else ""
    if signal == "log":
        return _text("OK")  # a log-only ping changes no state; the body is not a run
    if signal == "start":
        event = pings.start_event(r, owner, job_id, rid)
        if body:
            event["stdout"] = body
    else:
        if signal == "fail":
            status, code = "failed", None
        elif signal == "":
            status, code = "success", None
        else:
            code = int(signal)
            status = "success" if code == 0 else "failed"
        event = pings.finish_event(r, owner, job_id, rid, status=status, exit_code=code, body=body)
    exec_store.record(r, store.scripts, owner, [event], store.settings)
    return _text("OK")


def _signal(value: str) -> str | None:
    if value in ("", "start", "fail", "log"):
        return value
    if value.isascii() and value.isdigit() and 0 <= int(value) <= 255:  # not "²" or "١": str.isdigit() allows them
        return value
    return None


@bp.route("/ping/<uuid>", methods=METHODS)
@bp.route("/ping/<uuid>/<signal>", methods=METHODS)
def ping_uuid(uuid: str, signal: str = ""):
    if not UUID_RE.fullmatch(uuid):
        # Not a uuid: the slug form /ping/<ping key>/<slug> with no signal.
        return ping_slug(uuid, signal, "") if signal else _text("not found", 404)
    sig = _signal(signal)
    if sig is None:
        return _text("invalid signal", 400)
    return _handle(pings.resolve_uuid(store.client, uuid), sig)


@bp.route("/ping/<ping_key>/<slug>/<signal>", methods=METHODS)
def ping_slug(ping_key: str, slug: str, signal: str = ""):
    sig = _signal(signal)
    if sig is None:
        return _text("invalid signal", 400)
    if not ID_RE.fullmatch(slug):
        return _text("invalid slug", 400)
    target = pings.resolve_slug(store.client, ping_key, slug, create=request.args.get("create") == "1")
    return _handle(target, sig)
