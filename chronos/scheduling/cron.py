"""Schedule arithmetic: 5-field cron, 6-field cron with seconds first, ``@hourly``-style macros, in an IANA zone.

Fire times are epoch milliseconds. Matching is on the wall clock of the job's timezone, with these promises
across daylight-saving changes (the rules of Vixie cron, which croniter follows except for the repeat):

* Spring forward: a wall time that does not exist that day fires once, at the first instant after the gap
  (``30 2 * * *`` in Europe/Berlin on 2025-03-30 fires at 03:00 CEST). Several such times fire once.
* Fall back: an expression with a fixed hour field (``30 2 * * *``, ``0 1,2 * * *``) fires once, in the first
  pass through the repeated hour. An expression whose hour field is a wildcard (``0 * * * *``,
  ``*/10 * * * * *``, ``0 */2 * * *``) keeps firing by the clock, so it fires in both passes: those are
  distinct instants an hour apart, and skipping them would leave a gap.

Everything else is croniter's answer, which the tests check instant by instant.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Iterator
from zoneinfo import ZoneInfo

from croniter import croniter

from chronos.timeutil import zone

MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
MAX_BACKLOG = 1000  # fires enumerated per claim at most; older ones are counted as one missed run


class ScheduleError(ValueError):
    """The expression or the timezone is not valid."""


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule. ``expr`` is the 5- or 6-field form (macros expanded); ``tz`` an IANA name."""

    source: str
    expr: str
    tz: str
    has_seconds: bool
    hour_wildcard: bool

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.tz)


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return zone(name)


@lru_cache(maxsize=4096)
def parse(expr: str, tz: str | None = None) -> Schedule:
    """The schedule for ``expr`` in ``tz`` (UTC when empty). Raises ScheduleError with a short reason."""
    source = " ".join((expr or "").split())
    if not source:
        raise ScheduleError("empty schedule")
    text = MACROS.get(source.lower(), source)
    if text.startswith("@"):
        raise ScheduleError(f"unknown macro {source!r} (use one of {', '.join(sorted(MACROS))})")
    fields = text.split()
    if len(fields) not in (5, 6):
        raise ScheduleError(f"expected 5 fields (or 6 with seconds first), got {len(fields)}")
    has_seconds = len(fields) == 6
    try:
        ok = croniter.is_valid(text, second_at_beginning=has_seconds)
    except Exception:  # noqa: BLE001 - croniter raises several kinds for bad input
        ok = False
    if not ok:
        raise ScheduleError(f"not a valid cron expression: {source!r}")
    try:
        tz_name = tz or "UTC"
        _zone(tz_name)
    except ValueError as exc:
        raise ScheduleError(str(exc)) from None
    hour = fields[2] if has_seconds else fields[1]
    return Schedule(source=source, expr=text, tz=tz_name, has_seconds=has_seconds,
                    hour_wildcard=hour.startswith("*"))


class _Iter:
    """A reusable croniter for one schedule (building one costs about 6x a step)."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self.it = croniter(schedule.expr, datetime.now(schedule.zone), second_at_beginning=schedule.has_seconds)

    def after(self, after_ms: int) -> int:
        tz = self.schedule.zone
        self.it.set_current(datetime.fromtimestamp(after_ms / 1000, tz=tz), force=True)
        while True:
            nxt: datetime = self.it.get_next(datetime)
            if nxt.fold == 1 and not self.schedule.hour_wildcard and _is_repeat(nxt):
                continue  # the second pass through a repeated hour: a fixed-hour job already fired
            ms = int(nxt.timestamp() * 1000)
            if ms > after_ms:
                return ms


def _is_repeat(dt: datetime) -> bool:
    """True when this wall time also existed earlier the same night (the clocks fell back over it)."""
    first = dt.replace(fold=0)
    return first.utcoffset() != dt.utcoffset()


class CronCache:
    """Per-thread cache of schedule iterators and of recent answers (many jobs share a schedule and a due
    time, so a tick asks the same question thousands of times). Not shared between threads."""

    def __init__(self, size: int = 10_000, answers: int = 200_000) -> None:
        self.size = size
        self.answers_max = answers
        self._iters: dict[tuple[str, str], _Iter] = {}
        self._answers: dict[tuple[str, str, int], int] = {}

    def next_after(self, schedule: Schedule, after_ms: int) -> int:
        """The first fire strictly after ``after_ms``."""
        memo = (schedule.expr, schedule.tz, after_ms)
        hit = self._answers.get(memo)
        if hit is not None:
            return hit
        key = (schedule.expr, schedule.tz)
        it = self._iters.get(key)
        if it is None:
            if len(self._iters) >= self.size:
                self._iters.clear()
            it = self._iters[key] = _Iter(schedule)
        if len(self._answers) >= self.answers_max:
            self._answers.clear()
        value = self._answers[memo] = it.after(after_ms)
        return value

    def fires(self, schedule: Schedule, after_ms: int, until_ms: int, cap: int = MAX_BACKLOG) -> Iterator[int]:
        """Fires in ``(after_ms, until_ms]``, oldest first, at most ``cap`` of them."""
        t = after_ms
        for _ in range(cap):
            t = self.next_after(schedule, t)
            if t > until_ms:
                return
            yield t


_default = CronCache()


def next_after(expr: str, tz: str | None, after_ms: int, cache: CronCache | None = None) -> int:
    """The first fire of ``expr`` in ``tz`` strictly after ``after_ms`` (epoch ms)."""
    return (cache or _default).next_after(parse(expr, tz), after_ms)


def next_n(expr: str, tz: str | None, after_ms: int, n: int = 10) -> list[int]:
    """The next ``n`` fires strictly after ``after_ms``."""
    out, t = [], after_ms
    sched = parse(expr, tz)
    for _ in range(n):
        t = _default.next_after(sched, t)
        out.append(t)
    return out


def describe_local(ms: int, tz: str | None) -> str:
    """ISO-8601 of an instant in the given zone, with its offset (``2025-10-26T02:30:00+01:00``)."""
    return datetime.fromtimestamp(ms / 1000, tz=_zone(tz or "UTC")).isoformat(timespec="seconds")
