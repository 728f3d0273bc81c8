"""Scheduler processes: birth, heartbeat and death, for the admin page and for operators.

Each process has an id (``<host>:<pid>:<random>``). Its heartbeat key ``keys.sched_node(id)`` lives for
``ttl`` seconds and is refreshed every tick; the registry hash keeps the last beat, so ``list_nodes`` can tell
live processes from ones that died without deregistering (their heartbeat expired).
"""
from __future__ import annotations

import os
import secrets
import socket
from typing import Any

import orjson
from redis import Redis

from chronos import keys

HEARTBEAT_TTL_S = 15


def new_node_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def register_birth(r: Redis, node_id: str, now_ms: int, *, ttl: int = HEARTBEAT_TTL_S) -> None:
    info = {"id": node_id, "host": socket.gethostname(), "pid": os.getpid(), "startedAt": now_ms, "lastBeat": now_ms}
    with r.pipeline(transaction=True) as pipe:
        pipe.hset(keys.sched_nodes(), node_id, orjson.dumps(info))
        pipe.set(keys.sched_node(node_id), now_ms, ex=ttl)
        pipe.execute()


def beat(r: Redis, node_id: str, now_ms: int, stats: dict[str, Any] | None = None, *,
         ttl: int = HEARTBEAT_TTL_S) -> None:
    """Refresh the heartbeat (and the registry entry with the latest counters)."""
    raw = r.hget(keys.sched_nodes(), node_id)
    info = orjson.loads(raw) if raw else {"id": node_id, "startedAt": now_ms}
    info["lastBeat"] = now_ms
    if stats:
        info["stats"] = stats
    with r.pipeline(transaction=False) as pipe:
        pipe.set(keys.sched_node(node_id), now_ms, ex=ttl)
        pipe.hset(keys.sched_nodes(), node_id, orjson.dumps(info))
        pipe.execute()


def register_death(r: Redis, node_id: str) -> None:
    with r.pipeline(transaction=True) as pipe:
        pipe.delete(keys.sched_node(node_id))
        pipe.hdel(keys.sched_nodes(), node_id)
        pipe.execute()


def list_nodes(r: Redis) -> list[dict[str, Any]]:
    """Every registered scheduler with ``alive`` (heartbeat present); dead entries older than a day are pruned."""
    entries = r.hgetall(keys.sched_nodes())
    if not entries:
        return []
    ids = [k.decode() for k in entries]
    alive = r.mget([keys.sched_node(i) for i in ids])
    out = []
    for node_id, beat_value in zip(ids, alive):
        info = orjson.loads(entries[node_id.encode()])
        info["alive"] = beat_value is not None
        out.append(info)
    newest = max((n.get("lastBeat", 0) for n in out), default=0)
    stale = [n["id"] for n in out if not n["alive"] and newest - n.get("lastBeat", 0) > 86_400_000]
    if stale:
        r.hdel(keys.sched_nodes(), *stale)
    return sorted([n for n in out if n["id"] not in stale], key=lambda n: n.get("startedAt", 0))
