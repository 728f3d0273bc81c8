"""A Redis client for the worker processes, without importing Flask (``chronos.db`` is the web app's)."""
from __future__ import annotations

import redis

from chronos.config import Settings
from chronos.redis_server import EmbeddedRedis, check_modules
from chronos.store.schema import ensure_schema


class RedisUnavailable(RuntimeError):
    """Redis cannot be reached or lacks a module; the message says what to do."""


def redis_url(settings: Settings) -> str:
    """``REDIS_URL``, else the embedded server's URL (expected to be running: ``chronos up`` starts it)."""
    if settings.redis_url:
        return settings.redis_url
    return EmbeddedRedis(settings.data_dir, port=settings.chronos_redis_port,
                         appendfsync=settings.chronos_redis_appendfsync).url


def connect(settings: Settings, **kwargs: object) -> redis.Redis:
    """A checked client (RESP2, bytes replies) with the search indexes in place."""
    url = redis_url(settings)
    client = redis.Redis.from_url(url, protocol=2, health_check_interval=30, **kwargs)  # type: ignore[arg-type]
    try:
        missing = check_modules(client)
    except redis.ConnectionError as exc:
        raise RedisUnavailable(f"cannot reach Redis at {url}: {exc}; start it with `chronos up` or set REDIS_URL") from exc
    if missing:
        raise RedisUnavailable(f"Redis at {url} lacks the module(s) {', '.join(missing)} (Redis Stack >= 7.2 needed)")
    ensure_schema(client)
    return client
