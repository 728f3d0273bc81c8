"""Cron expressions in words ("Every 15 minutes", "At 03:00 on Monday to Friday").

Covers the shapes schedules usually take; anything else is shown as the expression itself, which is
never wrong. Pure functions, no Dash.
"""
from __future__ import annotations

DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
MACROS = {
    "@yearly": "Once a year (1 January, 00:00)", "@annually": "Once a year (1 January, 00:00)",
    "@monthly": "Monthly on day 1 at 00:00", "@weekly": "Weekly on Sunday at 00:00",
    "@daily": "Daily at 00:00", "@midnight": "Daily at 00:00", "@hourly": "Every hour",
    "@reboot": "At start-up",
}
_NAMES = {n[:3].lower(): str(i) for i, n in enumerate(DAYS)} | {m[:3].lower(): str(i + 1) for i, m in enumerate(MONTHS)}


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _names(field: str) -> str:
    for name, num in _NAMES.items():
        field = field.lower().replace(name, num)
    return field


def _list(field: str, render) -> str | None:
    """"1,3,5" or "1-5" rendered with ``render`` for single values; None when it's not that simple."""
    parts = []
    for item in field.split(","):
        if "-" in item and "/" not in item:
            lo, _, hi = item.partition("-")
            if not (lo.isdigit() and hi.isdigit()):
                return None
            parts.append(f"{render(int(lo))} to {render(int(hi))}")
        elif item.isdigit():
            parts.append(render(int(item)))
        else:
            return None
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _step(field: str) -> int | None:
    if field.startswith("*/") and field[2:].isdigit():
        return int(field[2:])
    return None


def _time_part(minute: str, hour: str) -> str | None:
    if minute.isdigit() and hour.isdigit():
        return f"at {int(hour):02d}:{int(minute):02d}"
    if minute.isdigit() and "," in hour and all(h.isdigit() for h in hour.split(",")):
        return "at " + ", ".join(f"{int(h):02d}:{int(minute):02d}" for h in hour.split(","))
    if minute == "*" and hour == "*":
        return "every minute"
    step = _step(minute)
    if step and hour == "*":
        return "every minute" if step == 1 else f"every {step} minutes"
    if minute.isdigit() and hour == "*":
        return "every hour" if minute == "0" else f"every hour at minute {int(minute)}"
    hstep = _step(hour)
    if minute.isdigit() and hstep:
        return f"every {hstep} hours" + ("" if minute == "0" else f" at minute {int(minute)}")
    if minute.isdigit() and "-" in hour:
        lo, _, hi = hour.partition("-")
        if lo.isdigit() and hi.isdigit():
            return f"every hour from {int(lo):02d}:{int(minute):02d} to {int(hi):02d}:{int(minute):02d}"
    if step and hour.isdigit():
        return f"every {step} minutes between {int(hour):02d}:00 and {int(hour):02d}:59"
    return None


def describe_cron(expr: str | None) -> str:
    """A sentence for a 5-field cron (or an ``@macro``); the expression itself when no simple one fits."""
    if not expr:
        return "No schedule"
    text = expr.strip()
    if text.lower() in MACROS:
        return MACROS[text.lower()]
    fields = text.split()
    if len(fields) == 6:  # seconds first
        sec, rest = fields[0], fields[1:]
        step = _step(sec)
        if step and all(f == "*" for f in rest):
            return f"Every {step} seconds"
        if sec != "0":
            return text
        fields = rest
    if len(fields) != 5:
        return text
    minute, hour, dom, month, dow = fields[0], fields[1], fields[2], _names(fields[3]), _names(fields[4])
    when = _time_part(minute, hour)
    if when is None:
        return text
    parts = [when]
    if dom != "*" and dom != "?":
        days = _list(dom, _ordinal)
        if days is None:
            return text
        parts.append(f"on the {days} of the month")
    if dow not in ("*", "?"):
        names = _list(dow, lambda d: DAYS[d % 7])
        if names is None:
            return text
        parts.append(f"on {names}")
    if month != "*":
        months = _list(month, lambda m: MONTHS[(m - 1) % 12])
        if months is None:
            return text
        parts.append(f"in {months}")
    sentence = " ".join(parts)
    if dom == "*" and dow == "*" and month == "*" and sentence.startswith("at "):
        sentence = "daily " + sentence
    return sentence[0].upper() + sentence[1:]
