"""Payload models (pydantic, strict) and the mapping of their errors to short messages."""
from __future__ import annotations

import re
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chronos.telemetry import STATUSES
from chronos.timeutil import parse_instant, valid_schedule, zone

ID_RE = re.compile(r"^[^\s,{}|]{1,200}$")
Instant = Union[str, int, float]
Labels = Union[list[str], dict[str, str]]


def _check_id(value: str) -> str:
    if not ID_RE.fullmatch(value):
        raise ValueError("must be 1-200 characters without spaces, commas, braces or '|'")
    return value


class _Model(BaseModel):
    # Unknown fields are kept (stored under "extra"), never silently dropped.
    model_config = ConfigDict(strict=True, extra="allow")


class JobDefinition(_Model):
    id: str
    name: Optional[str] = Field(default=None, max_length=300)
    schedule: Optional[str] = Field(default=None, max_length=200)
    runMode: Literal["once", "recurring"] = "recurring"
    version: Optional[str] = Field(default=None, max_length=100)
    signatureHash: Optional[str] = Field(default=None, max_length=200)
    orgId: Optional[str] = Field(default=None, max_length=200)
    appId: Optional[str] = Field(default=None, max_length=200)
    runAt: Optional[Instant] = None
    timezone: Optional[str] = Field(default=None, max_length=64)
    graceSeconds: Optional[int] = Field(default=None, ge=0, le=365 * 86400)
    tags: Optional[list[str]] = Field(default=None, max_length=50)
    description: Optional[str] = Field(default=None, max_length=5000)
    maxRuntimeSeconds: Optional[int] = Field(default=None, ge=1, le=30 * 86400)

    _id = field_validator("id")(lambda cls, v: _check_id(v))

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and v.strip() and not valid_schedule(v):
            raise ValueError("not a valid cron expression (5 or 6 fields, or a macro like @hourly)")
        return v.strip() if v else None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: Optional[str]) -> Optional[str]:
        if v:
            zone(v)
        return v or None

    @field_validator("runAt")
    @classmethod
    def _run_at(cls, v: Optional[Instant]) -> Optional[int]:
        return None if v is None else parse_instant(v)

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: Optional[list[str]]) -> Optional[list[str]]:
        if v is not None:
            for t in v:
                if not 0 < len(t) <= 100:
                    raise ValueError("each tag must be 1-100 characters")
        return v


class RegisterPayload(_Model):
    jobs: list[dict[str, Any]] = Field(min_length=1, max_length=1000)


class ExecutionEvent(_Model):
    execId: str
    jobId: str
    status: Literal[STATUSES]  # type: ignore[valid-type]
    startedAt: Optional[Instant] = None
    finishedAt: Optional[Instant] = None
    durationMs: Optional[Union[int, float]] = Field(default=None, ge=0, le=366 * 86_400_000)
    exitCode: Optional[int] = None
    errorMessage: Optional[str] = None
    errorType: Optional[str] = Field(default=None, max_length=500)
    errorStack: Optional[str] = None
    stdout: Optional[str] = None
    stderr: Optional[str] = None
    attempt: Optional[int] = Field(default=None, ge=0, le=10_000)
    labels: Optional[Labels] = None
    metadata: Optional[dict[str, Any]] = None
    jobVersion: Optional[str] = Field(default=None, max_length=100)
    appVersion: Optional[str] = Field(default=None, max_length=100)
    codeSnippet: Optional[str] = None
    codeLanguage: Optional[str] = Field(default=None, max_length=40)
    triggerId: Optional[str] = Field(default=None, max_length=200)
    host: Optional[str] = Field(default=None, max_length=255)
    pid: Optional[int] = None
    cpuTimeMs: Optional[Union[int, float]] = None
    peakMemoryKb: Optional[Union[int, float]] = None
    appId: Optional[str] = Field(default=None, max_length=200)

    _ids = field_validator("execId", "jobId")(lambda cls, v: _check_id(v))

    @field_validator("startedAt", "finishedAt")
    @classmethod
    def _instant(cls, v: Optional[Instant]) -> Optional[int]:
        return None if v is None else parse_instant(v)

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: Optional[Labels]) -> Optional[Labels]:
        items = v.items() if isinstance(v, dict) else [(x, "") for x in (v or [])]
        if len(items) > 50:
            raise ValueError("at most 50 labels")
        for k, val in items:
            if not 0 < len(k) <= 100 or len(val) > 200:
                raise ValueError("label keys must be 1-100 characters and values at most 200")
        return v

    def to_event(self) -> dict[str, Any]:
        """The event as the store takes it: times in ms, durations as ints, unknown fields under extra."""
        data = self.model_dump(exclude_none=True)
        extra = self.model_extra or {}
        for k in extra:
            data.pop(k, None)
        if "durationMs" in data:
            data["durationMs"] = int(round(data["durationMs"]))
        if extra:
            data["extra"] = extra
        return data


class ExecutionBatch(_Model):
    executions: list[dict[str, Any]] = Field(min_length=1)


def describe(exc: ValidationError) -> list[dict[str, str]]:
    """Short, field-named messages for every error of a validation failure."""
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(x) for x in err["loc"]) or "body"
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        out.append({"field": loc, "message": msg})
    return out


def first_error(exc: ValidationError) -> str:
    d = describe(exc)[0]
    return f"{d['field']}: {d['message']}"
