"""``GET /api/stream``: an owner's live events as Server-Sent Events.

Each owner's events go to a bounded Redis Stream (the replay buffer, so ``Last-Event-ID`` resumes
without gaps) and a Pub/Sub channel of the same name (the wake-up). A listener subscribes first and
replays second, so nothing published in between is missed; stream ids keep the order and drop repeats.
"""
from __future__ import annotations

import time
from typing import Any, Generator, Iterator

from flask import Response, g, request, stream_with_context
from redis import Redis

from chronos import keys
from chronos.db import store
from ingest_api import bp
from ingest_api.auth import require

HEARTBEAT_SECONDS = 15.0
MAX_CONNECTION_SECONDS = 3600.0  # clients reconnect with Last-Event-ID; bounds a stuck connection's life
REPLAY_LIMIT = 1000


def _frames(entries: list[Any]) -> bytes:
    """SSE frames for raw ``XRANGE`` entries (``[id, [field, value, ...]]``, bytes): no per-entry dict or
    str, the stored JSON goes out as it is."""
    out = []
    for entry_id, fields in entries:
        kind, data = b"message", b"{}"
        for i in range(0, len(fields) - 1, 2):
            if fields[i] == b"type":
                kind = fields[i + 1]
            elif fields[i] == b"data":
                data = fields[i + 1]
        out.append(b"id: %s\nevent: %s\ndata: %s\n\n" % (entry_id, kind, data))
    return b"".join(out)


def _after(cursor: str) -> str:
    return "(" + cursor


def _read(r: Redis, stream: str, cursor: str) -> tuple[str, bytes, bool]:
    """The entries after ``cursor`` (up to ``REPLAY_LIMIT``) as one chunk of frames, the new cursor, and
    whether the read was full.
    One chunk per read rather than one per event: at thousands of events a second, a write per event is
    most of what a stream connection costs. ``r`` returns XRANGE replies raw (``raw_client``)."""
    entries = r.execute_command("XRANGE", stream, _after(cursor), "+", "COUNT", REPLAY_LIMIT)
    if not entries:
        return cursor, b"", False
    return entries[-1][0].decode(), _frames(entries), len(entries) == REPLAY_LIMIT


def _drain(r: Redis, stream: str, cursor: str) -> Generator[bytes, None, str]:
    """Everything after ``cursor`` (a full read means more may be waiting); returns the new cursor."""
    while True:
        cursor, frames, full = _read(r, stream, cursor)
        if frames:
            yield frames
        if not full:
            return cursor


def raw_client(r: Redis) -> Redis:
    """A client on ``r``'s connection pool whose XRANGE replies are not turned into dicts and strings."""
    raw = Redis(connection_pool=r.connection_pool)
    raw.response_callbacks.pop("XRANGE", None)
    return raw


def event_frames(owner: str, last_event_id: str | None, *, heartbeat: float = HEARTBEAT_SECONDS,
                 max_seconds: float = MAX_CONNECTION_SECONDS) -> Iterator[str | bytes]:
    """SSE frames for ``owner``: the replay after ``last_event_id``, then live events and heartbeats."""
    r = store.client
    raw = raw_client(r)
    stream = keys.events(owner)
    pubsub = r.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(stream)
    try:
        yield f"retry: 3000\n: connected {int(time.time())}\n\n"
        if last_event_id:
            cursor = yield from _drain(raw, stream, last_event_id)
        else:
            latest = r.xrevrange(stream, "+", "-", count=1)
            cursor = latest[0][0].decode() if latest else "0-0"
        deadline = time.monotonic() + max_seconds
        while time.monotonic() < deadline:
            msg = pubsub.get_message(timeout=heartbeat)
            if msg is None:
                yield ": ping\n\n"
                continue
            cursor = yield from _drain(raw, stream, cursor)
    finally:
        pubsub.close()


@bp.get("/stream")
@require("read")
def stream():
    last_id = request.headers.get("Last-Event-ID") or request.args.get("lastEventId") or None
    if last_id and not _valid_id(last_id):
        last_id = None
    owner = g.principal.owner
    resp = Response(stream_with_context(event_frames(owner, last_id)), mimetype="text/event-stream")
    resp.headers["Cache-Control"] = "no-cache"
    resp.headers["X-Accel-Buffering"] = "no"
    return resp


def _valid_id(value: str) -> bool:
    left, _, right = value.partition("-")
    return left.isdigit() and (right == "" or right.isdigit())
