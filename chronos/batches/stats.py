"""Latency histogram and the batch summary a client sees.

Latencies are kept as a log-scale histogram in Redis (8 buckets per doubling, so a bucket is about 9 % wide)
beside exact min, max, sum and count; p50 and p95 come from the histogram (the geometric middle of the bucket
holding the quantile, clamped to the exact min and max).
"""
from __future__ import annotations

import math
from typing import Any, Mapping, TypedDict

import orjson

from chronos.timeutil import now_ms, to_iso

BUCKETS_PER_OCTAVE = 8


def bucket(latency_us: int) -> int:
    """The histogram bucket of a latency in microseconds."""
    return 0 if latency_us <= 1 else int(math.log2(latency_us) * BUCKETS_PER_OCTAVE)


def bucket_bounds_us(b: int) -> tuple[float, float]:
    return 2 ** (b / BUCKETS_PER_OCTAVE), 2 ** ((b + 1) / BUCKETS_PER_OCTAVE)


def quantiles(hist: Mapping[int, int], qs: tuple[float, ...], lo: float, hi: float) -> list[float | None]:
    """Estimated quantiles (µs) of the histogram ``hist`` (bucket -> count), clamped to [lo, hi]."""
    total = sum(hist.values())
    if total <= 0:
        return [None for _ in qs]
    ordered = sorted(hist.items())
    out: list[float | None] = []
    for q in qs:
        rank = max(1, math.ceil(q * total))
        seen = 0
        for b, count in ordered:
            seen += count
            if seen >= rank:
                low, high = bucket_bounds_us(b)
                out.append(min(max(math.sqrt(low * high), lo), hi))
                break
    return out


class LatencyStats(TypedDict):
    min: float | None
    avg: float | None
    p50: float | None
    p95: float | None
    max: float | None


def _ms(us: float | None) -> float | None:
    return None if us is None else round(us / 1000.0, 3)


def _int(raw: Mapping[str, str], name: str) -> int:
    value = raw.get(name)
    return int(value) if value not in (None, "") else 0


def latency(raw: Mapping[str, str], hist: Mapping[int, int]) -> LatencyStats:
    count = _int(raw, "latCount")
    if count == 0:
        return {"min": None, "avg": None, "p50": None, "p95": None, "max": None}
    lo, hi = _int(raw, "latMin"), _int(raw, "latMax")
    p50, p95 = quantiles(hist, (0.5, 0.95), lo, hi)
    return {"min": _ms(lo), "avg": _ms(_int(raw, "latSum") / count), "p50": _ms(p50), "p95": _ms(p95),
            "max": _ms(hi)}


def histogram(hist: Mapping[int, int]) -> list[dict[str, float]]:
    """Non-empty buckets as ``{"fromMs", "toMs", "count"}``, fastest first (for a latency chart)."""
    out = []
    for b, count in sorted(hist.items()):
        low, high = bucket_bounds_us(b)
        out.append({"fromMs": round(low / 1000, 3), "toMs": round(high / 1000, 3), "count": count})
    return out


def summary(raw: Mapping[str, str], hist: Mapping[int, int] | None = None, *, detail: bool = False) -> dict[str, Any]:
    """A batch as the API shows it (``raw`` is its decoded hash)."""
    config = orjson.loads(raw.get("config") or "{}")
    state = raw.get("state", "queued")
    total, delivered, failed = _int(raw, "total"), _int(raw, "delivered"), _int(raw, "failed")
    left = max(0, total - delivered - failed)
    started, first, last = _int(raw, "startedAt"), _int(raw, "firstDoneAt"), _int(raw, "lastDoneAt")
    finished = _int(raw, "finishedAt")
    done = delivered + failed
    end = finished or (now_ms() if state in ("queued", "running") else last)
    elapsed = (end - started) / 1000.0 if started and end > started else 0.0
    out: dict[str, Any] = {
        "id": raw.get("id"),
        "primarykey": config.get("primarykey"),
        "state": state,
        "receiving": raw.get("sealed") != "1",
        "total": total,
        "delivered": delivered,
        "failed": failed,
        "pending": 0 if state == "cancelled" else left,
        "cancelled": left if state == "cancelled" else 0,
        "retries": _int(raw, "retries"),
        "duplicateDeliveries": _int(raw, "duplicates"),
        "rejectedLines": _int(raw, "rejectedLines"),
        "latencyMs": latency(raw, hist or {}),
        "throughput": round(done / elapsed, 1) if elapsed > 0 else None,
        "progress": round(done / total, 4) if total else (1.0 if state == "completed" else 0.0),
        "createdAt": to_iso(_int(raw, "createdAt") or None),
        "startedAt": to_iso(started or None),
        "finishedAt": to_iso(finished or None),
        "firstDoneAt": to_iso(first or None),
        "lastDoneAt": to_iso(last or None),
        "target": {k: config.get(k) for k in ("url", "method", "timeoutMs", "concurrency", "retries",
                                              "backoffMs", "rateLimit")},
    }
    if detail:
        out["metadata"] = config.get("metadata")
        out["headers"] = sorted((config.get("headers") or {}).keys())
        out["histogram"] = histogram(hist or {})
        out["note"] = raw.get("note")
    return out
