"""Alert channels, per-job rules and the alert history of each owner.

A channel belongs to one user: ``webhook`` (JSON POST signed with HMAC-SHA256), ``slack`` (a Slack-compatible
incoming webhook) or ``email`` (SMTP, the server's settings). A channel with ``allJobs`` (the default) serves
every job that has no rules of its own. A job's rules name channels and the events each gets, among
``failure``, ``missed``, ``timeout`` and ``recovery``.

The history keeps the newest ``HISTORY_MAX`` alerts per owner: each with its job, event, channel, status
(``sent``, ``failed``, ``held`` by the outage guard, or ``test``) and the delivery error if any.
"""
from __future__ import annotations

import secrets
from typing import Any, Iterable

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from redis import Redis

from chronos import keys
from chronos.outbound import OutboundRefused, check_url

EVENTS = ("failure", "missed", "timeout", "recovery", "anomaly", "new_error")
# Sent when a channel or rule names no events. The insight events (a duration anomaly, an error group seen
# for the first time) are opt-in: they are about runs, not incidents, and would be noise for most channels.
DEFAULT_EVENTS = ("failure", "missed", "timeout", "recovery")
CHANNEL_TYPES = ("webhook", "slack", "email")
HISTORY_MAX = 1000


class AlertConfigError(ValueError):
    """A channel or rule definition is invalid; the message says which field and why."""


class ChannelIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    type: str
    name: str = Field(default="", max_length=200)
    url: str | None = Field(default=None, max_length=2000)
    secret: str | None = Field(default=None, min_length=8, max_length=200)
    to: list[str] | None = Field(default=None, max_length=20)
    allJobs: bool = True
    events: list[str] | None = None

    @field_validator("type")
    @classmethod
    def _type(cls, v: str) -> str:
        if v not in CHANNEL_TYPES:
            raise ValueError(f"must be one of {', '.join(CHANNEL_TYPES)}")
        return v

    @field_validator("events")
    @classmethod
    def _events(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and any(e not in EVENTS for e in v):
            raise ValueError(f"events must be among {', '.join(EVENTS)}")
        return v

    @model_validator(mode="after")
    def _targets(self) -> "ChannelIn":
        if self.type in ("webhook", "slack"):
            if not self.url or not self.url.startswith(("http://", "https://")):
                raise ValueError(f"a {self.type} channel needs an http(s) url")
        elif not self.to or not all("@" in a and len(a) <= 254 for a in self.to):
            raise ValueError("an email channel needs 'to': a list of addresses")
        return self


def _err(exc: ValidationError) -> AlertConfigError:
    e = exc.errors(include_url=False)[0]
    where = ".".join(str(x) for x in e["loc"]) or "body"
    return AlertConfigError(f"{where}: {e['msg'].removeprefix('Value error, ')}")


def create_channel(r: Redis, owner: str, data: dict[str, Any], *, outbound_allow: str, now: int) -> dict[str, Any]:
    """Validate and store a channel; a webhook without a secret gets a generated one (shown in the answer)."""
    try:
        c = ChannelIn.model_validate(data)
    except ValidationError as exc:
        raise _err(exc) from None
    if c.url:
        try:
            check_url(c.url, outbound_allow)
        except OutboundRefused as exc:
            raise AlertConfigError(f"url: {exc}") from None
    doc = {k: v for k, v in c.model_dump().items() if v is not None}
    doc.update({"id": "ch_" + secrets.token_hex(5), "owner": owner, "createdAt": now,
                "name": c.name or c.type})
    if c.type == "webhook" and not c.secret:
        doc["secret"] = "whsec_" + secrets.token_urlsafe(24)
    r.hset(keys.alert_channels(owner), doc["id"], orjson.dumps(doc))
    return doc


def get_channel(r: Redis, owner: str, channel_id: str) -> dict[str, Any] | None:
    raw = r.hget(keys.alert_channels(owner), channel_id)
    return orjson.loads(raw) if raw else None


def list_channels(r: Redis, owner: str) -> list[dict[str, Any]]:
    return sorted((orjson.loads(v) for v in r.hvals(keys.alert_channels(owner))), key=lambda c: c["createdAt"])


def delete_channel(r: Redis, owner: str, channel_id: str) -> bool:
    return bool(r.hdel(keys.alert_channels(owner), channel_id))


def public_channel(doc: dict[str, Any]) -> dict[str, Any]:
    """A channel as listed: the webhook secret is masked (it was shown once at creation)."""
    out = dict(doc)
    if out.get("secret"):
        out["secret"] = out["secret"][:8] + "…"
    return out


def set_rules(r: Redis, owner: str, job_id: str, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Replace a job's rules: ``[{channelId, events: [...]}]`` (an empty list removes them)."""
    clean = []
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict) or not isinstance(rule.get("channelId"), str):
            raise AlertConfigError(f"rules[{i}].channelId: required")
        if get_channel(r, owner, rule["channelId"]) is None:
            raise AlertConfigError(f"rules[{i}].channelId: no channel {rule['channelId']!r}")
        events = rule.get("events", list(DEFAULT_EVENTS))
        if not isinstance(events, list) or not events or any(e not in EVENTS for e in events):
            raise AlertConfigError(f"rules[{i}].events: a non-empty list among {', '.join(EVENTS)}")
        clean.append({"channelId": rule["channelId"], "events": events})
    if clean:
        r.hset(keys.alert_rules(owner), job_id, orjson.dumps(clean))
    else:
        r.hdel(keys.alert_rules(owner), job_id)
    return clean


def get_rules(r: Redis, owner: str, job_id: str) -> list[dict[str, Any]]:
    raw = r.hget(keys.alert_rules(owner), job_id)
    return orjson.loads(raw) if raw else []


def targets(r: Redis, owner: str, job_id: str, event: str) -> list[dict[str, Any]]:
    """The channels an ``event`` of this job goes to: its rules, else every ``allJobs`` channel."""
    rules = get_rules(r, owner, job_id)
    if rules:
        out = []
        for rule in rules:
            if event in rule["events"]:
                ch = get_channel(r, owner, rule["channelId"])
                if ch is not None:
                    out.append(ch)
        return out
    return [c for c in list_channels(r, owner)
            if c.get("allJobs", True) and event in (c.get("events") or DEFAULT_EVENTS)]


def heard(r: Redis, owner: str, job_ids: list[str]) -> dict[str, set[str]]:
    """For each job, the events some channel would receive (what ``targets`` finds), in one round trip."""
    if not job_ids:
        return {}
    with r.pipeline(transaction=False) as pipe:
        pipe.hmget(keys.alert_rules(owner), job_ids)
        pipe.hvals(keys.alert_channels(owner))
        raw_rules, raw_channels = pipe.execute()
    channels = {c["id"]: c for c in (orjson.loads(v) for v in raw_channels)}
    default = {e for c in channels.values() if c.get("allJobs", True) for e in (c.get("events") or DEFAULT_EVENTS)}
    out: dict[str, set[str]] = {}
    for job_id, raw in zip(job_ids, raw_rules):
        rules = orjson.loads(raw) if raw else []
        out[job_id] = {e for rule in rules if rule["channelId"] in channels for e in rule["events"]} \
            if rules else default
    return out


def record(r: Redis, owner: str, entries: Iterable[dict[str, Any]]) -> None:
    """Add alerts to the owner's history (newest first, capped)."""
    payload = [orjson.dumps(e) for e in entries]
    if payload:
        with r.pipeline(transaction=False) as pipe:
            pipe.lpush(keys.alert_history(owner), *payload)
            pipe.ltrim(keys.alert_history(owner), 0, HISTORY_MAX - 1)
            pipe.execute()


def history(r: Redis, owner: str, *, job_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The owner's alerts, newest first, optionally for one job."""
    items = [orjson.loads(x) for x in r.lrange(keys.alert_history(owner), 0, HISTORY_MAX - 1)]
    if job_id is not None:
        items = [a for a in items if a.get("jobId") == job_id]
    return items[:limit]
