"""Delivering alerts: signed webhooks, Slack-compatible webhooks and email, from a small thread pool.

Webhook requests carry ``X-Chronos-Event``, ``X-Chronos-Delivery`` and
``X-Chronos-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the channel secret>`` (GitHub's
scheme: recompute it over the bytes received and compare in constant time). Every target passes the
outbound guard (``CHRONOS_OUTBOUND_ALLOW``), redirects are not followed, and a delivery counts only with a
2xx answer. A failed delivery is tried three times (after 1 s and 4 s) and recorded with its error.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

import orjson
import requests
from redis import Redis

from chronos.config import Settings
from chronos.outbound import check_url
from chronos.scheduling import alerts
from chronos.scheduling.smtp import send_mail
from chronos.timeutil import to_iso

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (1.0, 4.0)
SUBJECTS = {"failure": "is failing", "missed": "missed its run", "timeout": "timed out", "recovery": "recovered",
            "anomaly": "ran abnormally", "new_error": "failed with a new error"}


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def payload(job: dict[str, Any], event: str, change: dict[str, Any], *, base_url: str = "",
            delivery_id: str | None = None, test: bool = False) -> dict[str, Any]:
    """The JSON document a webhook receives (and the source of the Slack and email texts)."""
    return {
        "event": event, "test": test, "deliveryId": delivery_id or "al_" + secrets.token_hex(8),
        "job": {"id": job.get("id"), "name": job.get("name") or job.get("id"), "owner": job.get("owner"),
                "schedule": job.get("schedule"), "timezone": job.get("timezone")},
        "state": change.get("to"), "previousState": change.get("from"), "reason": change.get("reason"),
        "at": to_iso(change.get("at")),
        "url": f"{base_url.rstrip('/')}/jobs/{job.get('id')}" if base_url else None,
    }


def summary(p: dict[str, Any]) -> str:
    name = p["job"]["name"]
    head = f"{'[test] ' if p.get('test') else ''}Chronos: job {name} {SUBJECTS.get(p['event'], p['event'])}"
    return f"{head} ({p['previousState']} → {p['state']}): {p['reason']}" + (f"\n{p['url']}" if p.get("url") else "")


def deliver(channel: dict[str, Any], p: dict[str, Any], settings: Settings, *, timeout: float = 10.0) -> str:
    """Send one alert to one channel; returns a short result, raises with the reason on failure."""
    kind = channel["type"]
    if kind == "email":
        return send_mail(settings, channel["to"], summary(p).splitlines()[0], summary(p) + "\n\n"
                         + orjson.dumps(p, option=orjson.OPT_INDENT_2).decode())
    url = channel["url"]
    check_url(url, settings.chronos_outbound_allow)
    if kind == "slack":
        body = orjson.dumps({"text": summary(p)})
        headers = {"Content-Type": "application/json"}
    else:
        body = orjson.dumps(p)
        headers = {"Content-Type": "application/json", "User-Agent": "chronos-synapse",
                   "X-Chronos-Event": p["event"], "X-Chronos-Delivery": p["deliveryId"],
                   "X-Chronos-Signature-256": sign(channel.get("secret", ""), body)}
    resp = requests.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
    if not 200 <= resp.status_code < 300:
        raise RuntimeError(f"HTTP {resp.status_code} from the receiver")
    return f"HTTP {resp.status_code}"


class Notifier:
    """Sends alerts in the background and records each in the owner's history."""

    def __init__(self, r: Redis, settings: Settings, *, workers: int = 4, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], int] | None = None) -> None:
        self.r = r
        self.settings = settings
        self.sleep = sleep
        self.clock = clock
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chronos-alert")
        self.pending: set[Future] = set()
        self.lock = threading.Lock()

    def notify(self, job: dict[str, Any], event: str, change: dict[str, Any], *, held: str | None = None) -> int:
        """Queue ``event`` for every target channel; with ``held`` only record why it was not sent."""
        owner = job["owner"]
        channels = alerts.targets(self.r, owner, job["id"], event)
        p = payload(job, event, change, base_url=self.settings.chronos_public_url)
        if held:
            alerts.record(self.r, owner, [self._entry(job, event, c, p, "held", error=held) for c in channels])
            return 0
        for c in channels:
            fut = self.pool.submit(self._send, job, event, c, p)
            with self.lock:
                self.pending.add(fut)
            fut.add_done_callback(self._done)
        return len(channels)

    def _done(self, fut: Future) -> None:
        with self.lock:
            self.pending.discard(fut)

    def _send(self, job: dict[str, Any], event: str, channel: dict[str, Any], p: dict[str, Any]) -> None:
        error, result, attempts = None, None, 0
        for delay in (0.0, *RETRY_DELAYS_S):
            if delay:
                self.sleep(delay)
            attempts += 1
            try:
                result = deliver(channel, p, self.settings)
                error = None
                break
            except Exception as exc:  # noqa: BLE001 - every failure is recorded with its reason
                error = str(exc)[:500]
        alerts.record(self.r, job["owner"], [self._entry(job, event, channel, p, "failed" if error else "sent",
                                                         error=error, result=result, attempts=attempts)])

    def _entry(self, job: dict[str, Any], event: str, channel: dict[str, Any], p: dict[str, Any], status: str,
               **extra: Any) -> dict[str, Any]:
        at = self.clock() if self.clock else int(time.time() * 1000)
        return {"id": p["deliveryId"] + ":" + channel["id"], "jobId": job["id"], "event": event,
                "channelId": channel["id"], "channelType": channel["type"], "status": status, "at": at,
                "reason": p["reason"], "state": p["state"], **{k: v for k, v in extra.items() if v is not None}}

    def drain(self, timeout: float = 60.0) -> None:
        """Wait until every queued delivery is done (tests, shutdown)."""
        with self.lock:
            futs = list(self.pending)
        for f in futs:
            f.result(timeout=timeout)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True)


def send_test(r: Redis, settings: Settings, channel: dict[str, Any], now: int) -> dict[str, Any]:
    """Send a test alert right now (synchronously) and record it; returns the history entry."""
    job = {"id": "chronos-test", "name": "Chronos test alert", "owner": channel["owner"]}
    p = payload(job, "failure", {"from": "up", "to": "failing", "reason": "this is a test alert", "at": now},
                base_url=settings.chronos_public_url, test=True)
    entry = {"id": p["deliveryId"] + ":" + channel["id"], "jobId": None, "event": "test", "channelId": channel["id"],
             "channelType": channel["type"], "at": now, "reason": "send test"}
    try:
        entry.update(status="test", result=deliver(channel, p, settings))
    except Exception as exc:  # noqa: BLE001
        entry.update(status="failed", error=str(exc)[:500])
    alerts.record(r, channel["owner"], [entry])
    return entry
