"""Health, server info and the OpenAPI document."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import redis
from flask import g, jsonify

from chronos import keys, search
from chronos.db import store
from chronos.store import ingest_queue
from chronos.timeutil import now_ms
from chronos.redis_server import check_modules
from ingest_api import bp
from ingest_api.auth import require
from ingest_api.openapi import document


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


@bp.get("/health")
def health():
    """200 when Redis answers and has the JSON, search and timeseries modules; 503 otherwise."""
    try:
        missing = check_modules(store.client)
    except redis.RedisError as exc:
        return jsonify({"status": "down", "redis": "unreachable", "detail": str(exc)[:200]}), 503
    if missing:
        return jsonify({"status": "down", "redis": "ok", "missingModules": missing}), 503
    return jsonify({"status": "ok", "redis": "ok", "missingModules": []})


@bp.get("/info")
@require("read")
def info():
    r = store.client
    server = r.info("server")
    memory = r.info("memory")
    modules = {}
    for m in r.execute_command("MODULE", "LIST"):
        d = dict(zip(m[::2], m[1::2]))
        modules[d[b"name"].decode()] = int(d[b"ver"])
    owner = g.principal.owner_filter()
    counts = {}
    for name, idx in (("jobs", keys.IDX_JOBS), ("executions", keys.IDX_EXECUTIONS)):
        q = search.tag("owner", owner) if owner else "*"
        counts[name] = int(r.execute_command("FT.SEARCH", idx, q, "LIMIT", 0, 0, "DIALECT", 2)[0])
    queue: dict[str, object] = {"enabled": store.settings.chronos_ingest_queue}
    if g.principal.is_admin:  # the queue holds every account's batches: its backlog is for admins
        queue.update(ingest_queue.backlog(r, now_ms()))
    return jsonify({
        "name": "chronos-synapse", "version": _version("chronos-synapse"),
        "ingestQueue": queue,
        "redis": {"version": server.get("redis_version"), "usedMemory": memory.get("used_memory"),
                  "modules": modules},
        "counts": counts,
        "limits": {"maxBatchEvents": store.settings.chronos_max_batch_events,
                   "maxBodyBytes": store.settings.chronos_max_body_bytes,
                   "maxLogBytes": store.settings.chronos_max_log_bytes,
                   "retentionDays": store.settings.chronos_retention_days},
    })


@bp.get("/openapi.json")
def openapi():
    return jsonify(document(_version("chronos-synapse") or "0"))
