"""Small robust statistics and the plain-words formatting the insights use. Pure functions."""
from __future__ import annotations

import math
from typing import Sequence

MAD_TO_SIGMA = 1.4826  # MAD x this estimates the standard deviation of normally distributed data

_NICE_SECONDS = (1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 300, 420, 600, 900, 1200, 1800, 2700,
                 3600, 5400, 7200, 10800, 14400, 21600, 28800, 43200, 86400)


def median(values: Sequence[float]) -> float | None:
    """The median, or None for no values."""
    if not values:
        return None
    s = sorted(values)
    n = len(s)
    mid = n // 2
    return float(s[mid]) if n % 2 else (s[mid - 1] + s[mid]) / 2.0


def mad(values: Sequence[float], center: float | None = None) -> float | None:
    """Median absolute deviation from ``center`` (default: the median), or None for no values."""
    if not values:
        return None
    c = median(values) if center is None else center
    return median([abs(v - c) for v in values])  # type: ignore[operator]


def quantile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) with linear interpolation between order statistics, or None."""
    if not values:
        return None
    s = sorted(values)
    pos = (len(s) - 1) * min(1.0, max(0.0, q))
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def nice_seconds(seconds: float) -> int:
    """``seconds`` rounded up to a value a person would type (…, 45, 60, 90, 120, …); whole hours past a day."""
    if seconds <= 0:
        return 1
    for v in _NICE_SECONDS:
        if seconds <= v:
            return v
    return int(math.ceil(seconds / 3600.0)) * 3600


def words_ms(ms: float | None) -> str:
    """A duration in plain words: ``850 ms``, ``2.4 s``, ``3 min 5 s``, ``1 h 20 min``."""
    if ms is None:
        return "unknown"
    ms = float(ms)
    if ms < 1000:
        return f"{ms:.0f} ms"
    s = ms / 1000.0
    if s < 60:
        return f"{s:.1f} s" if s < 10 else f"{s:.0f} s"
    m, sec = divmod(int(round(s)), 60)
    if m < 60:
        return f"{m} min {sec} s" if sec else f"{m} min"
    h, m = divmod(m, 60)
    return f"{h} h {m} min" if m else f"{h} h"


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f}%"
