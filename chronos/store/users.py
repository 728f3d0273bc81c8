"""Users and API keys.

Passwords are stored as werkzeug scrypt hashes. API keys are 256-bit random secrets shown once; the
store keeps only their SHA-256, which is also the lookup key, so checking a key is one GET whatever
the number of keys (a slow hash buys nothing against a random 256-bit secret).
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import orjson
from redis import Redis
from redis.exceptions import WatchError
from werkzeug.security import check_password_hash, generate_password_hash

from chronos import keys
from chronos.timeutil import now_ms

ROLES = ("admin", "member", "viewer")
SCOPES = ("ingest", "read", "admin")
KEY_PREFIX = "chr_"


class UserExists(Exception):
    """A user with that email is already registered."""


@dataclass(frozen=True)
class ApiKey:
    id: str
    owner: str
    name: str
    scopes: tuple[str, ...]
    prefix: str
    created_at: int
    revoked: bool = False
    last_used_at: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "owner": self.owner, "name": self.name, "scopes": list(self.scopes),
                "prefix": self.prefix, "createdAt": self.created_at, "revoked": self.revoked}


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _load(raw: bytes | None) -> dict[str, Any] | None:
    return orjson.loads(raw) if raw else None


# ---- users -------------------------------------------------------------------------------------

def create_user(r: Redis, email: str, password: str, *, role: str | None = None, name: str = "") -> dict[str, Any]:
    """Create a user. The first user ever created is an admin unless ``role`` says otherwise.

    Raises UserExists when the email is taken (checked and claimed atomically).
    """
    email = email.strip().lower()
    user_id = "u_" + secrets.token_hex(6)
    with r.pipeline() as pipe:
        while True:
            try:
                pipe.watch(keys.user_by_email(email), keys.users())
                if pipe.exists(keys.user_by_email(email)):
                    raise UserExists(email)
                first = pipe.scard(keys.users()) == 0
                doc = {
                    "id": user_id, "email": email, "name": name or email.split("@")[0],
                    "role": role or ("admin" if first else "member"),
                    "passwordHash": generate_password_hash(password), "disabled": False,
                    "createdAt": now_ms(),
                }
                pipe.multi()
                pipe.set(keys.user_by_email(email), user_id)
                pipe.sadd(keys.users(), user_id)
                pipe.execute_command("JSON.SET", keys.user(user_id), "$", orjson.dumps(doc))
                pipe.execute()
                return doc
            except WatchError:
                # Another registration touched the same email or the user set; decide again.
                continue


def get_user(r: Redis, user_id: str) -> dict[str, Any] | None:
    return _load(r.execute_command("JSON.GET", keys.user(user_id)))


def find_user_by_email(r: Redis, email: str) -> dict[str, Any] | None:
    user_id = r.get(keys.user_by_email(email))
    return get_user(r, user_id.decode()) if user_id else None


def authenticate(r: Redis, email: str, password: str) -> dict[str, Any] | None:
    """The enabled user with that email and password, else None."""
    user = find_user_by_email(r, email)
    if user and not user.get("disabled") and check_password_hash(user["passwordHash"], password):
        return user
    return None


def set_password(r: Redis, user_id: str, password: str) -> None:
    r.execute_command("JSON.SET", keys.user(user_id), "$.passwordHash", orjson.dumps(generate_password_hash(password)))


def update_user(r: Redis, user_id: str, *, role: str | None = None, disabled: bool | None = None) -> None:
    patch: dict[str, Any] = {}
    if role is not None:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        patch["role"] = role
    if disabled is not None:
        patch["disabled"] = disabled
    if patch:
        r.execute_command("JSON.MERGE", keys.user(user_id), "$", orjson.dumps(patch))


def list_users(r: Redis) -> list[dict[str, Any]]:
    ids = sorted(x.decode() for x in r.smembers(keys.users()))
    if not ids:
        return []
    raws = r.execute_command("JSON.MGET", *[keys.user(i) for i in ids], "$")
    users = [orjson.loads(x)[0] for x in raws if x]
    return sorted(users, key=lambda u: u["createdAt"])


def public_user(user: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in user.items() if k != "passwordHash"}


# ---- API keys ----------------------------------------------------------------------------------

def create_key(r: Redis, owner: str, *, name: str = "default", scopes: tuple[str, ...] = ("ingest", "read"),
               secret: str | None = None) -> tuple[str, ApiKey]:
    """Create a key for ``owner``; returns the secret (shown once, never stored) and the key record.

    ``secret`` lets a deployment supply its own (``CHRONOS_BOOTSTRAP_API_KEY``); it must carry the prefix.
    """
    bad = [s for s in scopes if s not in SCOPES]
    if bad:
        raise ValueError(f"unknown scope(s): {', '.join(bad)}")
    secret = secret or KEY_PREFIX + secrets.token_urlsafe(32)
    if not secret.startswith(KEY_PREFIX) or len(secret) < 24:
        raise ValueError(f"an API key must start with {KEY_PREFIX!r} and be at least 24 characters")
    digest = hash_secret(secret)
    key = ApiKey(id="k_" + secrets.token_hex(6), owner=owner, name=name, scopes=tuple(scopes),
                 prefix=secret[:8], created_at=now_ms())
    with r.pipeline(transaction=True) as pipe:
        pipe.execute_command("JSON.SET", keys.apikey(digest), "$", orjson.dumps(key.to_dict()), "NX")
        pipe.set(keys.apikey_by_id(key.id), digest)
        pipe.sadd(keys.user_keys(owner), key.id)
        created, _, _ = pipe.execute()
    if not created:
        raise ValueError("that API key already exists")
    return secret, key


def lookup_key(r: Redis, secret: str) -> ApiKey | None:
    """The live (not revoked) key with that secret, else None."""
    doc = _load(r.execute_command("JSON.GET", keys.apikey(hash_secret(secret))))
    if not doc or doc.get("revoked"):
        return None
    return _key_from(doc)


def _key_from(doc: dict[str, Any]) -> ApiKey:
    return ApiKey(id=doc["id"], owner=doc["owner"], name=doc.get("name", ""), scopes=tuple(doc["scopes"]),
                  prefix=doc.get("prefix", ""), created_at=doc["createdAt"], revoked=bool(doc.get("revoked")))


def list_keys(r: Redis, owner: str) -> list[ApiKey]:
    ids = [x.decode() for x in r.smembers(keys.user_keys(owner))]
    if not ids:
        return []
    digests = [d.decode() for d in r.mget([keys.apikey_by_id(i) for i in ids]) if d]
    if not digests:
        return []
    raws = r.execute_command("JSON.MGET", *[keys.apikey(d) for d in digests], "$")
    found = [_key_from(orjson.loads(x)[0]) for x in raws if x]
    return sorted(found, key=lambda k: k.created_at)


def revoke_key(r: Redis, owner: str | None, key_id: str) -> bool:
    """Revoke a key of ``owner`` (any owner's when None). False when there is no such key."""
    digest = r.get(keys.apikey_by_id(key_id))
    if not digest:
        return False
    doc = _load(r.execute_command("JSON.GET", keys.apikey(digest.decode())))
    if not doc or (owner is not None and doc["owner"] != owner):
        return False
    r.execute_command("JSON.SET", keys.apikey(digest.decode()), "$.revoked", "true")
    return True
