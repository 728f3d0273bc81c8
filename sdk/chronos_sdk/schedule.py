"""Cron arithmetic for the runner's local trigger mode.

Five fields are ``minute hour day month weekday``. Six fields put **seconds
first** (``*/10 * * * * *`` = every 10 seconds), as Quartz, node-cron and the
Chronos server do. Macros such as ``@hourly`` work too.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

from croniter import croniter


def _has_seconds(expr: str) -> bool:
    return len(expr.split()) == 6


def get_zone(name: Optional[str]) -> "timezone | object":
    """The IANA zone ``name`` (UTC when empty). Raises ValueError for an unknown name."""
    if not name or name.upper() == "UTC":
        return timezone.utc
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except Exception as exc:  # noqa: BLE001 - ZoneInfoNotFoundError, ValueError, missing tzdata
        raise ValueError(f"unknown timezone {name!r}") from exc


def validate_cron(expr: str) -> str:
    """``expr`` stripped, or ValueError when croniter cannot read it as 5/6 fields or a macro."""
    text = (expr or "").strip()
    n = len(text.split())
    if not text or (not text.startswith("@") and n not in (5, 6)):
        raise ValueError(f"invalid cron expression {expr!r}: expected 5 or 6 fields")
    try:
        croniter(text, datetime.now(timezone.utc), second_at_beginning=_has_seconds(text))
    except Exception as exc:  # noqa: BLE001 - croniter raises several kinds for bad input
        raise ValueError(f"invalid cron expression {expr!r}: {exc}") from None
    return text


def next_fire(expr: str, after: datetime, tz_name: Optional[str] = None) -> datetime:
    """The first fire time of ``expr`` strictly after ``after``, computed in ``tz_name``
    (so DST is handled by the zone), returned as an aware UTC datetime."""
    if after.tzinfo is None:
        after = after.replace(tzinfo=timezone.utc)
    local = after.astimezone(get_zone(tz_name))  # type: ignore[arg-type]
    it = croniter(expr.strip(), local, second_at_beginning=_has_seconds(expr))
    nxt: datetime = it.get_next(datetime)
    return nxt.astimezone(timezone.utc)
