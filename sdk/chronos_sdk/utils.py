"""Small helpers shared by the SDK modules: the internal logger, the
exception guard used by every background path, and time formatting."""
from __future__ import annotations

import contextlib
import logging
import random
import sys
from datetime import datetime, timezone
from typing import Any, Iterator, Optional, Union

logger = logging.getLogger("chronos_sdk")

_debug = False


def set_debug(enabled: bool) -> None:
    """Make the SDK log its internal activity and errors to stderr when ``enabled``."""
    global _debug
    _debug = bool(enabled)
    if enabled and not logger.handlers:
        handler = logging.StreamHandler(sys.__stderr__ or sys.stderr)
        handler.setFormatter(logging.Formatter("[chronos_sdk] %(levelname)s %(message)s"))
        logger.addHandler(handler)
    if enabled:
        logger.setLevel(logging.DEBUG)


@contextlib.contextmanager
def capture_internal_exceptions() -> Iterator[None]:
    """Swallow and log any ``Exception`` raised inside the block.

    The SDK wraps every background code path in this so that a bug in the SDK
    never raises into the host program. ``BaseException`` (KeyboardInterrupt,
    SystemExit) still propagates.
    """
    try:
        yield
    except Exception:  # noqa: BLE001 - the whole point is to catch everything
        # Silent unless debug=True: the host program's stderr is not ours to fill.
        logger.debug("internal error in chronos_sdk", exc_info=True)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(dt: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and ``Z``: ``2026-11-23T02:00:00.123Z``."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


TimeLike = Union[datetime, str, int, float, None]


def to_wire_time(value: TimeLike) -> Optional[str]:
    """A query-string time: aware/naive datetimes become ISO UTC, numbers are epoch ms, strings pass."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, bool):
        raise TypeError("expected a datetime, ISO string or epoch milliseconds")
    if isinstance(value, (int, float)):
        return str(int(value))
    if isinstance(value, str):
        return value
    raise TypeError("expected a datetime, ISO string or epoch milliseconds")


def parse_time(value: Any) -> Optional[datetime]:
    """An aware datetime from an ISO string (``Z`` or offset) or epoch ms; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000.0, tz=timezone.utc)
    text = str(value).strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(_trim_fraction(text))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _trim_fraction(text: str) -> str:
    # Python < 3.11 fromisoformat accepts only 3 or 6 fractional digits.
    if "." not in text:
        return text
    head, _, rest = text.partition(".")
    digits = ""
    while rest and rest[0].isdigit():
        digits, rest = digits + rest[0], rest[1:]
    return f"{head}.{(digits + '000000')[:6]}{rest}"


def backoff_delay(attempt: int, base: float, cap: float, rng: Optional[random.Random] = None) -> float:
    """Exponential delay ``min(cap, base * 2**(attempt-1))`` with jitter in [50 %, 100 %]."""
    raw = min(cap, base * (2 ** max(0, attempt - 1)))
    return raw * (rng or random).uniform(0.5, 1.0)
