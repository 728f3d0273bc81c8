"""Who is calling: an API key (``x-api-key`` or ``Authorization: Bearer``) or a dashboard session.

``@require(scope)`` puts a ``Principal`` on ``g.principal`` or answers 401/403/429.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any, Callable

from flask import g, request
from flask_login import current_user

from chronos import keys
from chronos.db import store
from chronos.store import users
from ingest_api.errors import ApiError

# Scopes a dashboard session's role carries.
ROLE_SCOPES = {"admin": ("ingest", "read", "admin"), "member": ("ingest", "read"), "viewer": ("read",)}


@dataclass(frozen=True)
class Principal:
    owner: str          # the user id whose data this caller owns
    role: str           # the owning user's role
    scopes: tuple[str, ...]
    key_id: str | None  # None for a session

    @property
    def is_admin(self) -> bool:
        return self.role == "admin" and "admin" in self.scopes

    def owner_filter(self) -> str | None:
        """The owner every query is scoped to; None (all owners) only for an admin asking ``?owner=all``."""
        wanted = request.args.get("owner")
        if wanted and self.is_admin:
            return None if wanted == "all" else wanted
        return self.owner


def presented_key() -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return None


def _from_key(secret: str) -> Principal:
    r = store.client
    key = users.lookup_key(r, secret)
    if key is None:
        raise ApiError("invalid or revoked API key", 401)
    user = users.get_user(r, key.owner)
    if user is None or user.get("disabled"):
        raise ApiError("the key's user is disabled", 401)
    _rate_limit(key.id)
    return Principal(owner=key.owner, role=user.get("role", "member"), scopes=key.scopes, key_id=key.id)


def _rate_limit(key_id: str) -> None:
    limit = store.settings.chronos_rate_limit_per_min
    if limit <= 0:
        return
    now = time.time()
    window = int(now // 60)
    hits = store.scripts.rate_limit(keys=[keys.rate_limit(key_id, window)], args=[61])
    if int(hits) > limit:
        retry = max(1, int(60 - now % 60))
        raise ApiError(f"rate limit of {limit} requests per minute exceeded", 429,
                       headers={"Retry-After": str(retry)})


def _from_session() -> Principal | None:
    if not current_user.is_authenticated:
        return None
    role = current_user.role
    return Principal(owner=current_user.id, role=role, scopes=ROLE_SCOPES.get(role, ("read",)), key_id=None)


def current_principal() -> Principal:
    """The caller, or ApiError 401."""
    secret = presented_key()
    if secret:
        return _from_key(secret)
    principal = _from_session()
    if principal is None:
        raise ApiError("authentication required: send an API key in x-api-key", 401,
                       headers={"WWW-Authenticate": 'Bearer realm="chronos"'})
    return principal


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _check_same_origin() -> None:
    """Session-authenticated writes must come from this site's own pages.

    SameSite=Lax cookies already keep cross-site POSTs cookieless in current browsers; this also refuses a
    write whose Origin (or Referer) names another site, and one that is not JSON (a cross-site form cannot
    send JSON without a CORS preflight, which this server never grants).
    """
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if origin:
        from urllib.parse import urlsplit

        if urlsplit(origin).netloc != request.host:
            raise ApiError("cross-site request refused", 403, code="csrf")
    if request.content_length and not request.is_json:
        raise ApiError("send JSON (application/json) with a session", 415)


def require(scope: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Require a caller whose key (or session role) has ``scope``."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            principal = current_principal()
            if principal.key_id is None:
                _check_same_origin()
            if scope not in principal.scopes:
                raise ApiError(f"this key lacks the {scope!r} scope", 403)
            g.principal = principal
            return view(*args, **kwargs)

        return wrapped

    return decorator
