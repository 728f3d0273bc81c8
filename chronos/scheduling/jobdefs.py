"""Server-side job definitions (``http``, ``shell``, ``email``): validation, templates and the dry run.

``validate(data)`` returns the normalised definition (camelCase, instants in ms) or raises
``DefinitionError`` naming the first bad field. The definition fields are ``DEFINITION_FIELDS``; a change
of any of ``VERSIONED_FIELDS`` makes a new version. ``dry_run`` lists the next fire times in the job's own
timezone and checks the target without running it.
"""
from __future__ import annotations

import os
import shlex
import shutil
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from chronos.config import Settings
from chronos.outbound import OutboundRefused, check_url
from chronos.scheduling import cron
from chronos.scheduling.execute import MAX_RETRIES, STRATEGIES
from chronos.telemetry import MAX_NESTING, nesting
from chronos.timeutil import parse_instant

JOB_TYPES = ("http", "shell", "email")
DEFINITION_FIELDS = ("name", "description", "schedule", "timezone", "runMode", "runAt", "type", "target", "retry",
                     "dependsOn", "tags", "graceSeconds", "maxRuntimeSeconds", "allowOverlap", "misfirePolicy",
                     "coalesce", "misfireGraceSeconds", "failureThreshold", "recoveryThreshold")
VERSIONED_FIELDS = ("schedule", "timezone", "runMode", "runAt", "type", "target", "retry", "dependsOn")
# Fields that also apply to jobs registered by the SDK (monitoring and policies only).
MONITOR_FIELDS = ("graceSeconds", "maxRuntimeSeconds", "misfirePolicy", "coalesce", "misfireGraceSeconds",
                  "failureThreshold", "recoveryThreshold", "tags", "description")
ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.@:")


class DefinitionError(ValueError):
    """A job definition is invalid; ``field`` names where."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class HttpTarget(_Strict):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    url: str = Field(max_length=2000)
    headers: dict[str, str] = Field(default_factory=dict)
    body: Union[str, dict[str, Any], list[Any], None] = None
    timeoutMs: int = Field(default=30_000, ge=100, le=600_000)
    expectStatus: Union[int, list[int], None] = None

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return v


class ShellTarget(_Strict):
    command: Union[str, list[str]]
    env: dict[str, str] = Field(default_factory=dict)
    cwd: Optional[str] = None
    timeoutMs: int = Field(default=60_000, ge=100, le=86_400_000)
    shell: bool = False

    @field_validator("command")
    @classmethod
    def _command(cls, v: Union[str, list[str]]) -> Union[str, list[str]]:
        argv = v if isinstance(v, list) else shlex.split(v)
        if not argv or not argv[0]:
            raise ValueError("must not be empty")
        return v


class EmailTarget(_Strict):
    to: Union[str, list[str]]
    subject: str = Field(max_length=500)
    body: str = Field(default="", max_length=100_000)
    timeoutMs: int = Field(default=15_000, ge=100, le=120_000)

    @field_validator("to")
    @classmethod
    def _to(cls, v: Union[str, list[str]]) -> Union[str, list[str]]:
        for a in ([v] if isinstance(v, str) else v):
            if "@" not in a or len(a) > 254:
                raise ValueError(f"not an email address: {a[:60]!r}")
        return v


TARGETS = {"http": HttpTarget, "shell": ShellTarget, "email": EmailTarget}


class Retry(_Strict):
    strategy: Literal["immediate", "linear", "exponential"] = "immediate"
    maxRetries: int = Field(default=0, ge=0, le=MAX_RETRIES)
    baseDelayMs: int = Field(default=1000, ge=0, le=3_600_000)


class JobIn(_Strict):
    id: Optional[str] = Field(default=None, min_length=1, max_length=120)
    name: str = Field(min_length=1, max_length=300)
    description: Optional[str] = Field(default=None, max_length=5000)
    schedule: Optional[str] = Field(default=None, max_length=200)
    timezone: Optional[str] = Field(default=None, max_length=64)
    runMode: Literal["recurring", "once"] = "recurring"
    runAt: Union[str, int, None] = None
    type: Literal["http", "shell", "email"]
    target: dict[str, Any]
    retry: Optional[Retry] = None
    dependsOn: list[str] = Field(default_factory=list, max_length=20)
    tags: list[str] = Field(default_factory=list, max_length=50)
    graceSeconds: Optional[int] = Field(default=None, ge=0, le=365 * 86400)
    maxRuntimeSeconds: Optional[int] = Field(default=None, ge=1, le=30 * 86400)
    allowOverlap: bool = False
    misfirePolicy: Optional[Literal["run_within_grace", "run_late"]] = None
    coalesce: Optional[Literal["latest", "none"]] = None
    misfireGraceSeconds: Optional[int] = Field(default=None, ge=0, le=30 * 86400)
    failureThreshold: Optional[int] = Field(default=None, ge=1, le=720)
    recoveryThreshold: Optional[int] = Field(default=None, ge=1, le=720)

    @field_validator("id")
    @classmethod
    def _id(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not set(v) <= ID_CHARS:
            raise ValueError("letters, digits and - _ . @ : only")
        return v

    @model_validator(mode="after")
    def _when(self) -> "JobIn":
        if self.schedule:
            try:
                cron.parse(self.schedule, self.timezone)
            except cron.ScheduleError as exc:
                raise ValueError(f"schedule: {exc}") from None
        elif self.timezone:
            cron.parse("* * * * *", self.timezone)
        if self.runMode == "once" and self.runAt is None and not self.schedule and not self.dependsOn:
            raise ValueError("a one-time job needs runAt (or a schedule, whose first match it runs at)")
        if self.runMode == "recurring" and not self.schedule and not self.dependsOn:
            raise ValueError("a recurring job needs a schedule (or dependsOn, to run after other jobs)")
        return self


def _first_error(exc: ValidationError, prefix: str = "") -> DefinitionError:
    e = exc.errors(include_url=False)[0]
    where = ".".join(str(x) for x in e["loc"]) or "body"
    msg = e["msg"].removeprefix("Value error, ")
    if where == "body" and ": " in msg and msg.split(": ", 1)[0].isidentifier():
        where, msg = msg.split(": ", 1)
    return DefinitionError(prefix + where, msg)


def validate(data: Any) -> dict[str, Any]:
    """The normalised definition (unset optional fields left out), or DefinitionError."""
    if not isinstance(data, dict):
        raise DefinitionError("body", "expected a JSON object")
    if nesting(data) > MAX_NESTING + 1:
        raise DefinitionError("body", f"nested deeper than {MAX_NESTING} levels")
    try:
        job = JobIn.model_validate(data)
    except ValidationError as exc:
        raise _first_error(exc) from None
    try:
        target = TARGETS[job.type].model_validate(job.target)
    except ValidationError as exc:
        raise _first_error(exc, "target.") from None
    out = job.model_dump(exclude_none=True, mode="json")
    out["target"] = target.model_dump(exclude_none=True)
    if job.runAt is not None:
        try:
            out["runAt"] = parse_instant(job.runAt)
        except ValueError as exc:
            raise DefinitionError("runAt", str(exc)) from None
    if job.id and job.id in job.dependsOn:
        raise DefinitionError("dependsOn", "a job cannot depend on itself")
    return out


def definition_of(doc: dict[str, Any]) -> dict[str, Any]:
    """The definition part of a stored job document (what export writes and PUT replaces)."""
    return {k: doc[k] for k in ("id", *DEFINITION_FIELDS) if doc.get(k) not in (None, [], "")}


def dry_run(definition: dict[str, Any], settings: Settings, now_ms: int, n: int = 10) -> dict[str, Any]:
    """The next ``n`` fire times (ISO, in the job's timezone) and the target checks, without running anything."""
    tz = definition.get("timezone") or "UTC"
    fires: list[str] = []
    if definition.get("runMode") == "once" and definition.get("runAt") is not None:
        fires = [cron.describe_local(definition["runAt"], tz)] if definition["runAt"] > now_ms else []
    elif definition.get("schedule"):
        times = cron.next_n(definition["schedule"], tz, now_ms, 1 if definition.get("runMode") == "once" else n)
        fires = [cron.describe_local(t, tz) for t in times]
    return {"timezone": tz, "nextFires": fires, "checks": target_checks(definition, settings)}


def target_checks(definition: dict[str, Any], settings: Settings) -> list[dict[str, Any]]:
    """What would stop the target from running here, as ``{check, ok, message}`` items."""
    kind, target = definition.get("type"), definition.get("target") or {}
    checks: list[dict[str, Any]] = []

    def add(check: str, ok: bool, message: str) -> None:
        checks.append({"check": check, "ok": ok, "message": message})

    if kind == "http":
        try:
            check_url(target.get("url", ""), settings.chronos_outbound_allow)
            add("outbound", True, "the URL's host is allowed")
        except OutboundRefused as exc:
            add("outbound", False, str(exc))
    elif kind == "shell":
        add("shell enabled", settings.chronos_allow_shell, "CHRONOS_ALLOW_SHELL is set" if settings.chronos_allow_shell
            else "shell jobs are disabled: set CHRONOS_ALLOW_SHELL=1")
        cmd = target.get("command")
        argv0 = "/bin/sh" if target.get("shell") else (cmd[0] if isinstance(cmd, list) else (shlex.split(cmd or "") or [""])[0])
        found = shutil.which(argv0) if argv0 else None
        add("executable", bool(found), f"{argv0} → {found}" if found else f"{argv0!r} is not found on PATH")
        if target.get("cwd"):
            add("cwd", os.path.isdir(target["cwd"]), f"{target['cwd']} {'exists' if os.path.isdir(target['cwd']) else 'does not exist'}")
    elif kind == "email":
        ok = bool(settings.chronos_smtp_host)
        add("smtp", ok, f"SMTP server {settings.chronos_smtp_host}:{settings.chronos_smtp_port}" if ok
            else "email is not configured: set CHRONOS_SMTP_HOST")
    return checks


TEMPLATES: list[dict[str, Any]] = [
    {"id": "http-health-check", "name": "HTTP health check", "description": "GET a URL every 5 minutes; 2xx is success",
     "definition": {"name": "Health check", "type": "http", "schedule": "*/5 * * * *",
                    "target": {"method": "GET", "url": "http://127.0.0.1:8050/api/health", "timeoutMs": 10_000},
                    "retry": {"strategy": "exponential", "maxRetries": 3, "baseDelayMs": 2000}}},
    {"id": "webhook-post", "name": "Webhook POST", "description": "POST a JSON body hourly",
     "definition": {"name": "Webhook", "type": "http", "schedule": "@hourly",
                    "target": {"method": "POST", "url": "http://127.0.0.1:9000/hook", "body": {"ping": True}},
                    "retry": {"strategy": "linear", "maxRetries": 2, "baseDelayMs": 5000}}},
    {"id": "nightly-shell", "name": "Nightly shell command", "description": "Run a command at 02:30 local time",
     "definition": {"name": "Nightly task", "type": "shell", "schedule": "30 2 * * *", "timezone": "Europe/Berlin",
                    "target": {"command": ["echo", "hello"], "timeoutMs": 600_000}}},
    {"id": "weekly-email", "name": "Weekly email", "description": "Send a reminder every Monday at 09:00",
     "definition": {"name": "Weekly reminder", "type": "email", "schedule": "0 9 * * 1",
                    "target": {"to": ["team@example.com"], "subject": "Weekly reminder", "body": "Time to review."}}},
]


def template(template_id: str) -> dict[str, Any] | None:
    return next((t for t in TEMPLATES if t["id"] == template_id), None)
