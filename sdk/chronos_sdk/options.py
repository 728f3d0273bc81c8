"""Client options: defaults, environment fallbacks and validation.

Every option is keyword-only. An unknown option raises ``TypeError`` and a bad
value raises :class:`~chronos_sdk.exceptions.ConfigurationError`.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Optional, Union

from .exceptions import ConfigurationError

DEFAULT_ENDPOINT = "http://127.0.0.1:8050"
MAX_BATCH = 1000  # the server accepts at most this many events per batch request

ENV_API_KEY = "CHRONOS_API_KEY"
ENV_ENDPOINT = "CHRONOS_ENDPOINT"
ENV_APP_ID = "CHRONOS_APP_ID"
ENV_APP_VERSION = "CHRONOS_APP_VERSION"
ENV_SPOOL_DIR = "CHRONOS_SPOOL_DIR"


@dataclass
class ClientOptions:
    """The resolved settings of one client. See README "Options" for each field."""

    api_key: Optional[str] = None
    endpoint: str = DEFAULT_ENDPOINT
    app_id: Optional[str] = None
    app_version: Optional[str] = None
    timeout: float = 5.0
    queue_size: int = 1000
    batch_size: int = 100
    flush_interval: float = 2.0
    shutdown_timeout: float = 2.0
    spool_dir: Union[str, "os.PathLike[str]", None, bool] = None
    max_log_bytes: int = 65536
    gzip: bool = True
    transport: Any = None
    debug: bool = False
    max_retries: int = 5

    @property
    def enabled(self) -> bool:
        """False when there is neither an API key nor a custom transport: nothing is sent."""
        return bool(self.api_key) or self.transport is not None

    def spool_path(self) -> Optional[Path]:
        """The spool directory for this endpoint and key, or None when spooling is off."""
        if self.spool_dir is False:
            return None
        base = self.spool_dir
        if base is None or base is True or base == "":
            base = Path(os.path.expanduser("~")) / ".cache" / "chronos" / "spool"
        digest = hashlib.sha256(f"{self.endpoint}\n{self.api_key or ''}".encode()).hexdigest()[:16]
        return Path(os.fspath(base)) / digest


OPTION_NAMES = frozenset(f.name for f in fields(ClientOptions) if f.name != "api_key")


def resolve_options(api_key: Optional[str] = None, **kwargs: Any) -> ClientOptions:
    """Options from keyword arguments, then environment variables, then defaults.

    Raises TypeError for an unknown option name and ConfigurationError for a bad value.
    """
    unknown = sorted(set(kwargs) - OPTION_NAMES)
    if unknown:
        raise TypeError(f"unknown option(s) for the Chronos client: {', '.join(unknown)}")
    env = os.environ
    given = {k: v for k, v in kwargs.items() if v is not None}
    opts = ClientOptions(**given)
    opts.api_key = api_key or env.get(ENV_API_KEY) or None
    opts.endpoint = (kwargs.get("endpoint") or env.get(ENV_ENDPOINT) or DEFAULT_ENDPOINT).rstrip("/")
    opts.app_id = kwargs.get("app_id") or env.get(ENV_APP_ID) or None
    opts.app_version = resolve_app_version(kwargs.get("app_version"))
    if kwargs.get("spool_dir") is None and env.get(ENV_SPOOL_DIR):
        opts.spool_dir = env[ENV_SPOOL_DIR]
    _validate(opts)
    return opts


def resolve_app_version(value: Optional[str]) -> Optional[str]:
    """The application version to report.

    ``value`` may be a literal version (``"1.4.2"``) or the name of an installed
    distribution (``"my-service"``), whose version is then read from its package
    metadata. Without a value, ``CHRONOS_APP_VERSION`` is used.
    """
    if value:
        try:
            from importlib.metadata import PackageNotFoundError, version

            try:
                return version(value)
            except PackageNotFoundError:
                return value
        except Exception:  # noqa: BLE001 - a broken metadata install must not stop init
            return value
    return os.environ.get(ENV_APP_VERSION) or None


def _validate(opts: ClientOptions) -> None:
    if opts.transport is None and not opts.endpoint.startswith(("http://", "https://")):
        raise ConfigurationError(f"endpoint must start with http:// or https://, got {opts.endpoint!r}")
    for name in ("timeout", "flush_interval"):
        if not float(getattr(opts, name)) > 0:
            raise ConfigurationError(f"{name} must be > 0")
    if float(opts.shutdown_timeout) < 0:
        raise ConfigurationError("shutdown_timeout must be >= 0")
    if int(opts.queue_size) < 1:
        raise ConfigurationError("queue_size must be >= 1")
    if not 1 <= int(opts.batch_size) <= MAX_BATCH:
        raise ConfigurationError(f"batch_size must be between 1 and {MAX_BATCH}")
    if int(opts.max_log_bytes) < 256:
        raise ConfigurationError("max_log_bytes must be >= 256")
    if int(opts.max_retries) < 0:
        raise ConfigurationError("max_retries must be >= 0")
    if opts.transport is not None and not callable(getattr(opts.transport, "request", None)):
        raise ConfigurationError("transport must have a request() method "
                                 "(see chronos_sdk.transport.Transport)")
