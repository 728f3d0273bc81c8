"""Healthchecks-compatible pings: the ids behind ping URLs and turning a ping into an execution event.

A job's ping URL is ``/ping/<uuid>`` (the uuid is the secret, as on Healthchecks); a user's ping key gives
slug URLs ``/ping/<key>/<jobId>``. Start and finish pair through ``?rid=`` or, without one, through the
job's latest open start.
"""
from __future__ import annotations

import secrets
import uuid as uuidlib
from typing import Any

import orjson
from redis import Redis

from chronos import keys
from chronos.store import jobs as job_store
from chronos.timeutil import now_ms

OPEN_RUN_TTL = 7 * 86400


def ensure_ping_id(r: Redis, owner: str, job_id: str) -> str:
    """The job's ping uuid, created on first use (atomically: two callers get the same one)."""
    doc_key = keys.job(owner, job_id)
    raw = r.execute_command("JSON.GET", doc_key, "$.pingId")
    found = orjson.loads(raw) if raw else []
    if found:
        return found[0]
    new = str(uuidlib.uuid4())
    # NX on the path: only the first writer's uuid is kept.
    r.execute_command("JSON.SET", doc_key, "$.pingId", orjson.dumps(new), "NX")
    current = orjson.loads(r.execute_command("JSON.GET", doc_key, "$.pingId"))[0]
    r.set(keys.ping(current), f"{owner} {job_id}")
    return current


def ensure_ping_key(r: Redis, owner: str) -> str:
    existing = r.get(keys.user_ping_key(owner))
    if existing:
        return existing.decode()
    key = secrets.token_urlsafe(16)
    if r.set(keys.user_ping_key(owner), key, nx=True):
        r.set(keys.ping_key(key), owner)
        return key
    return r.get(keys.user_ping_key(owner)).decode()


def resolve_uuid(r: Redis, uuid: str) -> tuple[str, str] | None:
    raw = r.get(keys.ping(uuid))
    if not raw:
        return None
    owner, _, job_id = raw.decode().partition(" ")
    return owner, job_id


def resolve_slug(r: Redis, ping_key: str, slug: str, *, create: bool) -> tuple[str, str] | None:
    owner = r.get(keys.ping_key(ping_key))
    if not owner:
        return None
    owner_id = owner.decode()
    if job_store.get(r, owner_id, slug) is None:
        if not create:
            return None
        job_store.upsert(r, owner_id, [{"id": slug, "name": slug}])
    return owner_id, slug


def start_event(r: Redis, owner: str, job_id: str, rid: str | None) -> dict[str, Any]:
    exec_id = f"ping:{job_id}:{rid}" if rid else f"ping:{job_id}:{uuidlib.uuid4()}"
    if not rid:
        r.set(keys.ping_open_run(owner, job_id), exec_id, ex=OPEN_RUN_TTL)
    return {"execId": exec_id, "jobId": job_id, "status": "running", "startedAt": now_ms()}


def finish_event(r: Redis, owner: str, job_id: str, rid: str | None, *, status: str,
                 exit_code: int | None, body: str | None) -> dict[str, Any]:
    """The final event for a finish ping, paired with its start when there was one."""
    from chronos.store import executions as exec_store

    now = now_ms()
    exec_id = f"ping:{job_id}:{rid}" if rid else None
    if exec_id is None:
        open_run = r.getdel(keys.ping_open_run(owner, job_id))
        exec_id = open_run.decode() if open_run else f"ping:{job_id}:{uuidlib.uuid4()}"
    started = now
    existing = exec_store.get(r, owner, exec_id)
    if existing and existing.get("status") == "running":
        started = int(existing.get("startedAt", now))
    event: dict[str, Any] = {"execId": exec_id, "jobId": job_id, "status": status, "startedAt": started,
                             "finishedAt": now, "durationMs": max(0, now - started)}
    if exit_code is not None:
        event["exitCode"] = exit_code
        if exit_code != 0:
            event["errorMessage"] = f"exit status {exit_code}"
    if body:
        event["stdout"] = body
    return event
