"""First-start provisioning for deployments and tests: an admin user and an API key from settings."""
from __future__ import annotations

import logging

from redis import Redis

from chronos.config import Settings
from chronos.store import users

log = logging.getLogger(__name__)


def ensure_bootstrap(r: Redis, settings: Settings) -> dict | None:
    """Create ``CHRONOS_ADMIN_EMAIL`` (admin) when absent, and ``CHRONOS_BOOTSTRAP_API_KEY`` for it.

    Idempotent: an existing user keeps its password; an existing key is left as it is. Returns the
    admin user, or None when no admin email is configured.
    """
    email = settings.chronos_admin_email.strip().lower()
    if not email:
        return None
    user = users.find_user_by_email(r, email)
    if user is None:
        if not settings.chronos_admin_password:
            raise ValueError("CHRONOS_ADMIN_EMAIL is set: set CHRONOS_ADMIN_PASSWORD too")
        try:
            user = users.create_user(r, email, settings.chronos_admin_password, role="admin")
            log.info("created admin user %s", email)
        except users.UserExists:
            user = users.find_user_by_email(r, email)  # another process created it first
    secret = settings.chronos_bootstrap_api_key
    if secret and users.lookup_key(r, secret) is None:
        try:
            users.create_key(r, user["id"], name="bootstrap", scopes=("ingest", "read", "admin"), secret=secret)
            log.info("created the bootstrap API key for %s", email)
        except ValueError as exc:
            if "already exists" not in str(exc):
                raise
    return user
