"""Public status badges: SVG and shields.io endpoint JSON, behind an unguessable token per owner and job or tag.

A token is created on first request (``ensure_token``) and stays until ``rotate_token`` replaces it, which
makes the old URLs answer 404. The badge shows the job's name (or the tag) and one status:

    up        brightgreen   the last run succeeded
    failing   red           the last run failed or timed out (for a tag: any of its jobs)
    down      red           the monitor says the job is down
    late      orange        the monitor says the job is late
    running   blue          a run is in progress
    paused    lightgrey
    new       lightgrey     no run yet
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

import orjson
from redis import Redis

from chronos import keys
from chronos.store import jobs as job_store

KINDS = ("job", "tag")
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
COLORS = {"up": "brightgreen", "failing": "red", "down": "red", "late": "orange", "running": "blue",
          "paused": "lightgrey", "new": "lightgrey"}
HEX = {"brightgreen": "#4c1", "red": "#e05d44", "orange": "#fe7d37", "blue": "#007ec6", "lightgrey": "#9f9f9f"}
SEVERITY = ("down", "failing", "late", "running", "up", "paused", "new")  # worst first, for tags
MAX_LABEL = 60
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class BadgeTarget:
    owner: str
    kind: str
    target: str


def ensure_token(r: Redis, owner: str, kind: str, target: str) -> str:
    """The badge token of an owner's job or tag, created on first use (two concurrent callers get the same)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    existing = r.get(keys.badge_token(owner, kind, target))
    if existing:
        return existing.decode() if isinstance(existing, bytes) else existing
    token = secrets.token_urlsafe(24)
    r.set(keys.badge(token), orjson.dumps({"owner": owner, "kind": kind, "target": target}))
    if r.set(keys.badge_token(owner, kind, target), token, nx=True):
        return token
    # Another request created the token first: keep theirs, drop ours.
    r.delete(keys.badge(token))
    winner = r.get(keys.badge_token(owner, kind, target))
    return winner.decode() if isinstance(winner, bytes) else str(winner)


def rotate_token(r: Redis, owner: str, kind: str, target: str) -> str:
    """Replace the token (the old badge URLs stop working) and return the new one."""
    old = r.get(keys.badge_token(owner, kind, target))
    token = secrets.token_urlsafe(24)
    pipe = r.pipeline(transaction=True)
    if old:
        pipe.delete(keys.badge(old.decode() if isinstance(old, bytes) else old))
    pipe.set(keys.badge(token), orjson.dumps({"owner": owner, "kind": kind, "target": target}))
    pipe.set(keys.badge_token(owner, kind, target), token)
    pipe.execute()
    return token


def resolve(r: Redis, token: str) -> BadgeTarget | None:
    """What a token shows, or None for a malformed or unknown token."""
    if not TOKEN_RE.fullmatch(token or ""):
        return None
    raw = r.get(keys.badge(token))
    if not raw:
        return None
    data = orjson.loads(raw)
    return BadgeTarget(owner=data["owner"], kind=data["kind"], target=data["target"])


def job_status(job: dict[str, Any]) -> str:
    state = job.get("state")
    if state in ("down", "late", "paused"):
        return state
    last = job.get("lastStatus")
    if last in ("failed", "timeout"):
        return "failing"
    if last == "success":
        return "up"
    if last == "running":
        return "running"
    return "new"


def badge_for(r: Redis, target: BadgeTarget) -> tuple[str, str] | None:
    """(label, status) of what the badge shows, or None when the job no longer exists or the tag has no jobs."""
    if target.kind == "job":
        job = job_store.get(r, target.owner, target.target)
        return (job.get("name") or job["id"], job_status(job)) if job else None
    page = job_store.search_jobs(r, job_store.JobQuery(owner=target.owner, tag=target.target, limit=200))
    if not page.items:
        return None
    statuses = {job_status(j) for j in page.items}
    worst = next(s for s in SEVERITY if s in statuses)
    return target.target, worst


def shields_json(label: str, status: str) -> dict[str, Any]:
    """The shields.io endpoint format (https://shields.io/badges/endpoint-badge)."""
    return {"schemaVersion": 1, "label": _clean(label), "message": status, "color": COLORS.get(status, "lightgrey")}


def _clean(text: str) -> str:
    text = _CONTROL.sub("", text)
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def _width(text: str) -> int:
    """Approximate rendered width in px of Verdana 11 px (what shields.io badges use)."""
    w = 0.0
    for ch in text:
        if ch in "il.,:;'|!":
            w += 3.5
        elif ch in "fjrt() ":
            w += 4.5
        elif ch in "mwMW@%":
            w += 10.5
        elif ch.isupper() or ch.isdigit() or ch in "#&_~<>":
            w += 7.5
        else:
            w += 6.5
    return int(w + 0.5)


def svg(label: str, status: str) -> str:
    """A flat badge; the label is XML-escaped (a job name is user input)."""
    text, message = _clean(label), status
    lw, mw = _width(text) + 10, _width(message) + 10
    total = lw + mw
    color = HEX[COLORS.get(status, "lightgrey")]
    t, m = _esc(text), _esc(message)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" aria-label="{t}: {m}">'
        f"<title>{t}: {m}</title>"
        '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
        '<stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{total}" height="20" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/>'
        f'<rect x="{lw}" width="{mw}" height="20" fill="{color}"/>'
        f'<rect width="{total}" height="20" fill="url(#s)"/></g>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{lw / 2:.1f}" y="15" fill="#010101" fill-opacity=".3">{t}</text>'
        f'<text x="{lw / 2:.1f}" y="14">{t}</text>'
        f'<text x="{lw + mw / 2:.1f}" y="15" fill="#010101" fill-opacity=".3">{m}</text>'
        f'<text x="{lw + mw / 2:.1f}" y="14">{m}</text></g></svg>'
    )


def _esc(text: str) -> str:
    return escape(text, {'"': "&quot;", "'": "&apos;"})
