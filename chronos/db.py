"""The connection to Redis Stack, for the web app (a Flask extension) and for the other processes."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import redis

from chronos.config import Settings
from chronos.redis_server import EmbeddedRedis, EmbeddedRedisError, check_modules
from chronos.store.lua import Scripts
from chronos.store.schema import ensure_schema

log = logging.getLogger(__name__)


class RedisUnavailable(RuntimeError):
    """Redis cannot be reached, or lacks a required module. The message says what to do."""


def embedded_for(settings: Settings) -> EmbeddedRedis:
    return EmbeddedRedis(settings.data_dir, port=settings.chronos_redis_port,
                         appendfsync=settings.chronos_redis_appendfsync, nice=settings.chronos_redis_nice)


def redis_url(settings: Settings) -> str:
    """``REDIS_URL``, else the embedded server's URL (which is then expected to be running)."""
    return settings.redis_url or embedded_for(settings).url


def connect(settings: Settings, *, check: bool = True, **kwargs: Any) -> redis.Redis:
    """A client for the configured Redis (RESP2, bytes replies), checked for the required modules."""
    url = redis_url(settings)
    client = redis.Redis.from_url(url, protocol=2, health_check_interval=30, **kwargs)
    if check:
        try:
            missing = check_modules(client)
        except redis.ConnectionError as exc:
            hint = ("start it with `chronos up` (or `make run`), or set REDIS_URL" if not settings.redis_url
                    else "check REDIS_URL")
            raise RedisUnavailable(f"cannot reach Redis at {url}: {exc}; {hint}") from exc
        if missing:
            raise RedisUnavailable(
                f"Redis at {url} lacks the module(s) {', '.join(missing)}; Chronos needs Redis Stack >= 7.2 "
                "or Redis >= 8.0 (JSON, search and timeseries)")
    return client


def ensure_embedded_running(settings: Settings) -> EmbeddedRedis | None:
    """Start the embedded Redis Stack when REDIS_URL is unset and nothing answers on its port.

    Returns the started server (the caller stops it), or None when nothing was started.
    """
    if settings.redis_url:
        return None
    server = embedded_for(settings)
    try:
        running_dir = redis.Redis.from_url(server.url, socket_connect_timeout=0.5).config_get("dir").get("dir")
    except redis.ConnectionError:
        running_dir = None
    if running_dir is not None:
        if os.path.realpath(running_dir) != os.path.realpath(server.redis_dir):
            raise RedisUnavailable(
                f"port {server.port} already has a Redis serving {running_dir}, not {server.redis_dir}; "
                "stop it or choose another CHRONOS_REDIS_PORT")
        return None  # already running for this data dir (e.g. from an earlier `chronos serve`)
    try:
        server.start()
    except EmbeddedRedisError as exc:
        raise RedisUnavailable(str(exc)) from exc
    return server


@dataclass
class _State:
    client: redis.Redis
    scripts: Scripts
    settings: Settings
    recorder: Any = None  # chronos.recorder.Recorder when CHRONOS_INGEST_QUEUE is on


class RedisStore:
    """Flask extension: ``store.init_app(app)``; then ``store.client``/``store.scripts`` in a request.

    Flask is imported only when used, so the scheduler and workers can import this module without it.
    """

    def init_app(self, app: Any, settings: Settings) -> None:
        client = connect(settings, max_connections=200)
        ensure_schema(client)
        state = _State(client=client, scripts=Scripts(client), settings=settings)
        if settings.chronos_ingest_queue:
            # Queued ingestion: one web process per host (whichever holds the data dir's recorder lock; gunicorn
            # builds the app in each worker) records what any of them queued. One recorder at a time keeps at
            # most one recording script ahead of an ingest request in Redis.
            from chronos.recorder import Recorder
            from chronos.store import ingest_queue

            ingest_queue.ensure_group(client)
            state.recorder = Recorder(client, state.scripts, settings,
                                      lock_path=settings.data_dir / "recorder.lock").start()
        app.extensions["chronos"] = state

    @property
    def _state(self) -> _State:
        from flask import current_app

        return current_app.extensions["chronos"]

    @property
    def client(self) -> redis.Redis:
        return self._state.client

    @property
    def scripts(self) -> Scripts:
        return self._state.scripts

    @property
    def settings(self) -> Settings:
        return self._state.settings

    @property
    def recorder(self) -> Any:
        return self._state.recorder


store = RedisStore()
