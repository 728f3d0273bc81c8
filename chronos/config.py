"""Settings, read once from the environment (and overridable by a mapping in tests).

Every setting has an environment variable of the same name; `docs/configuration.md` lists them.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """The server's settings. Field names map to upper-case env vars (``redis_url`` → ``REDIS_URL``)."""

    redis_url: str = ""  # empty: the embedded Redis Stack under data_dir
    chronos_data_dir: str = str(PROJECT_ROOT / "var")
    chronos_redis_port: int = 6399
    chronos_redis_appendfsync: str = "everysec"
    chronos_redis_nice: int = -10
    chronos_secret_key: str = ""  # empty: generated once and kept in data_dir
    chronos_max_body_bytes: int = 5 * 1024 * 1024
    chronos_max_batch_events: int = 1000
    chronos_max_log_bytes: int = 64 * 1024
    chronos_ingest_queue: bool = False  # acknowledge batches once queued; web workers record them (docs/scaling.md)
    chronos_ingest_queue_limit: int = 2000  # batches waiting at most; beyond it ingestion answers 503
    chronos_retention_days: int = 30
    chronos_ts_raw_days: int = 7
    chronos_ts_hourly_days: int = 90
    chronos_ts_daily_days: int = 730
    chronos_rate_limit_per_min: int = 1200
    chronos_allow_signup: bool = True
    chronos_admin_email: str = ""
    chronos_admin_password: str = ""
    chronos_bootstrap_api_key: str = ""
    chronos_public_url: str = ""
    chronos_secure_cookies: bool = False
    chronos_outbound_allow: str = "localhost,127.0.0.1,::1"
    chronos_batch_retention_days: int = 7
    chronos_batch_max_bytes: int = 2 * 1024 * 1024 * 1024  # one NDJSON upload; 0 = no limit
    chronos_batch_max_line_bytes: int = 1024 * 1024
    chronos_batch_runner_concurrency: int = 512  # requests in flight per runner process
    chronos_batch_reclaim_ms: int = 30_000  # a record held this long by a silent runner is reclaimed
    chronos_go_compat_owner: str = ""  # user id or email keyless /run and /status act as; empty: key required
    # scheduler, alerts and server-side jobs (docs/scheduler.md)
    chronos_allow_shell: bool = False  # shell jobs run only when this is set
    chronos_smtp_host: str = ""  # email jobs and email alert channels; empty: email is not configured
    chronos_smtp_port: int = 25
    chronos_smtp_user: str = ""
    chronos_smtp_password: str = ""
    chronos_smtp_from: str = "chronos@localhost"
    chronos_smtp_tls: str = ""  # "", "starttls" or "ssl"
    chronos_scheduler_workers: int = 8  # threads running server-side jobs per scheduler process
    chronos_shell_cpu_seconds: int = 600
    chronos_shell_memory_mb: int = 1024
    chronos_shell_file_mb: int = 100
    chronos_outage_min_misses: int = 10
    chronos_llm_url: str = ""  # OpenAI-compatible API base (".../v1"); empty: explanations are off
    chronos_llm_api_key: str = ""
    chronos_llm_model: str = "gpt-4o-mini"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return Path(self.chronos_data_dir)

    @property
    def retention_seconds(self) -> int:
        return self.chronos_retention_days * 86400

    @property
    def batch_retention_seconds(self) -> int:
        return self.chronos_batch_retention_days * 86400

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> "Settings":
        """Build settings from ``environ`` (default ``os.environ``), then ``overrides`` (keys in either case)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            raw = env.get(f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _coerce(f.type, raw)
        settings = cls(**values)
        if overrides:
            known = {f.name for f in fields(cls)}
            picked: dict[str, Any] = {}
            extra: dict[str, Any] = {}
            for key, value in overrides.items():
                name = key.lower()
                if name in known:
                    picked[name] = _coerce(_field_type(name), value) if isinstance(value, str) else value
                else:
                    extra[key] = value
            settings = replace(settings, **picked, extra=extra)
        return settings

    def secret_key(self) -> str:
        """The Flask secret: the configured one, else one generated once and kept in the data dir."""
        if self.chronos_secret_key:
            return self.chronos_secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        return key


def _field_type(name: str) -> str:
    for f in fields(Settings):
        if f.name == name:
            return str(f.type)
    return "str"


def _coerce(type_name: Any, raw: Any) -> Any:
    t = str(type_name)
    if t == "int":
        return int(raw)
    if t == "bool":
        return _bool(str(raw))
    return raw
