"""Formatting helpers for values shown on pages. Every text goes through Dash components, which
escape it; nothing here builds HTML strings."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import dash_bootstrap_components as dbc

STATUS_COLORS = {"success": "success", "failed": "danger", "timeout": "warning", "cancelled": "secondary",
                 "running": "primary"}


def duration(ms: Any) -> str:
    if ms is None:
        return "—"
    ms = float(ms)
    if ms < 1000:
        return f"{ms:.0f} ms"
    s = ms / 1000
    if s < 60:
        return f"{s:.1f} s"
    m, s = divmod(int(s), 60)
    if m < 60:
        return f"{m}m {s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h {m:02d}m"


def time_ago(ms: Any, now_ms: int | None = None) -> str:
    if ms is None:
        return "never"
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    delta = (now - int(ms)) / 1000
    future = delta < 0
    delta = abs(delta)
    for unit, secs in (("d", 86400), ("h", 3600), ("m", 60)):
        if delta >= secs:
            text = f"{int(delta // secs)}{unit}"
            break
    else:
        text = f"{int(delta)}s"
    return f"in {text}" if future else f"{text} ago"


def status_badge(status: str | None) -> dbc.Badge:
    status = status or "unknown"
    return dbc.Badge(status, color=STATUS_COLORS.get(status, "light"), className="text-uppercase",
                     text_color="dark" if status not in STATUS_COLORS else None)


def when(ms: Any) -> str:
    """An instant as ``2024-06-01 13:05:09 UTC`` (the dashboard shows UTC throughout)."""
    if ms is None:
        return "—"
    dt = datetime.fromtimestamp(int(ms) / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%d %H:%M:%S UTC")


def percent(part: Any, whole: Any) -> str:
    if not whole:
        return "—"
    return f"{100.0 * float(part) / float(whole):.1f}%"


def success_rate(job: dict[str, Any]) -> str:
    """A job's lifetime success rate from its counters."""
    runs = int(job.get("totalRuns") or 0)
    return percent(runs - int(job.get("totalFailures") or 0), runs)


def quote_id(value: str) -> str:
    """An id made safe for a URL path segment (ids may hold ``/``, ``#`` or ``?``)."""
    return quote(value, safe="")


def job_href(job_id: str) -> str:
    return f"/jobs/{quote_id(job_id)}"


def exec_href(exec_id: str) -> str:
    return f"/executions/{quote_id(exec_id)}"
