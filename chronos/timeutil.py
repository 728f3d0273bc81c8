"""Time conversions. Inside the product every instant is an int of epoch milliseconds (UTC)."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

# Instants before 2000 or after 2200 are almost certainly unit mistakes (seconds vs ms).
MIN_MS = 946_684_800_000
MAX_MS = 7_258_118_400_000


def now_ms() -> int:
    return int(time.time() * 1000)


def parse_instant(value: object) -> int:
    """Epoch ms from an ISO-8601 string (offset or ``Z``; naive means UTC) or epoch-ms number.

    Raises ValueError with a short reason when the value is not an instant in a sane range.
    """
    if isinstance(value, bool):
        raise ValueError("expected an ISO-8601 string or epoch milliseconds")
    if isinstance(value, (int, float)):
        ms = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            ms = int(text)
        else:
            try:
                dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            except ValueError:
                raise ValueError(f"not an ISO-8601 time: {value[:40]!r}") from None
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=timezone.utc)
            ms = int(dt.timestamp() * 1000)
    else:
        raise ValueError("expected an ISO-8601 string or epoch milliseconds")
    if not MIN_MS <= ms <= MAX_MS:
        raise ValueError("time out of range (expected epoch milliseconds between 2000 and 2200)")
    return ms


def to_iso(ms: int | None) -> str | None:
    """ISO-8601 UTC with milliseconds and ``Z``, or None."""
    if ms is None:
        return None
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def zone(name: str | None) -> ZoneInfo:
    """The IANA zone named, UTC when empty. Raises ValueError for an unknown name."""
    if not name:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {name!r}") from None


def valid_schedule(expr: str) -> bool:
    """True for a 5- or 6-field cron expression or an ``@hourly``-style macro croniter accepts."""
    try:
        return bool(croniter.is_valid(expr.strip(), second_at_beginning=_has_seconds(expr)))
    except Exception:  # noqa: BLE001 - croniter raises many kinds for bad input
        return False


def _has_seconds(expr: str) -> bool:
    return len(expr.split()) == 6


def next_fire(expr: str, tz_name: str | None, after_ms: int) -> int | None:
    """The first fire time of ``expr`` strictly after ``after_ms`` in the job's timezone, as epoch ms."""
    if not expr:
        return None
    # One rule for registration, ingest and the scheduler (DST included): the scheduler's cron module.
    from chronos.scheduling.cron import next_after

    try:
        return next_after(expr.strip(), tz_name, after_ms)
    except Exception:  # noqa: BLE001 - an expression croniter cannot iterate has no next fire
        return None
