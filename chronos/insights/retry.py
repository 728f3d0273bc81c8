"""Retry advice from the classes of a job's errors and how its past retries fared; max runtime and grace.

Error classes, matched on the error type, message and status (first match wins):

    timeout      timed out, deadline exceeded, status ``timeout``          retry, exponential from 10 s, 3 times
    rate_limit   429, too many requests, throttled                       retry, exponential from 30 s, 5 times
    connection   refused / reset / unreachable, DNS, broken pipe, socket retry, exponential from 5 s, 5 times
    server       500/502/503/504, service unavailable, bad gateway       retry, exponential from 10 s, 3 times
    permission   401/403, forbidden, unauthorized, access denied         do not retry
    validation   invalid, ValueError/TypeError/KeyError, schema, 400/422 do not retry
    not_found    404, not found, no such file                            do not retry
    resource     out of memory, disk full                                do not retry (it fails the same way)
    unknown      anything else                                           decided by the measured retries

Measured retries are runs with ``attempt > 1``; an attempt is linked to the failure before it through the
same ``triggerId``. Retries that succeeded less than 20 % of the time (5 or more) turn a "retry" into
"do not retry"; a job failing more than 80 % of the time is not worth retrying (fix the cause).
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from croniter import croniter

from chronos.insights.stats import nice_seconds, percent, quantile, words_ms

CLASSES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("timeout", re.compile(r"time[ds]?[ _-]?out|deadline exceeded|\betimedout\b", re.I)),
    ("rate_limit", re.compile(r"\b429\b|too many requests|rate[ _-]?limit|throttl", re.I)),
    ("connection", re.compile(r"connection|connect(ion)?error|econn|refused|reset by peer|unreachable|network"
                              r"|\bdns\b|name resolution|getaddrinfo|broken pipe|socket|temporar(il)?y unavailable",
                              re.I)),
    ("server", re.compile(r"\b50[0234]\b|service unavailable|bad gateway|internal server error", re.I)),
    ("permission", re.compile(r"\b40[13]\b|permission|forbidden|unauthori[sz]ed|access denied|not allowed"
                              r"|authentication|credentials", re.I)),
    ("validation", re.compile(r"\b(400|422)\b|invalid|validation|valueerror|typeerror|keyerror|attributeerror"
                              r"|schema|parse|malformed|assert", re.I)),
    ("not_found", re.compile(r"\b404\b|not found|no such|filenotfound|does not exist", re.I)),
    ("resource", re.compile(r"memoryerror|out of memory|\boom\b|no space left|disk full|quota", re.I)),
)
RETRYABLE = {"timeout": (10, 3), "rate_limit": (30, 5), "connection": (5, 5), "server": (10, 3)}
NOT_RETRYABLE = ("permission", "validation", "not_found", "resource")
MIN_RETRIES_MEASURED = 5
POOR_RETRY_RATE = 0.2
HOPELESS_FAILURE_RATE = 0.8
MIN_RUNTIME_RUNS = 20


def classify(error_type: str | None, message: str | None, status: str | None = None) -> str:
    """The error class of one failure (see the module docstring)."""
    text = f"{error_type or ''} {message or ''}"
    if status == "timeout":
        return "timeout"
    for name, pattern in CLASSES:
        if pattern.search(text):
            return name
    return "unknown"


def _retry_outcomes(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Retried attempts overall and per class of the failure they retried (linked by triggerId)."""
    by_trigger: dict[tuple[str, int], dict[str, Any]] = {}
    for run in runs:
        if run.get("triggerId") and isinstance(run.get("attempt"), int):
            by_trigger[(run["triggerId"], run["attempt"])] = run
    total = ok = 0
    per_class: dict[str, list[int]] = {}
    for run in runs:
        attempt = run.get("attempt")
        if not isinstance(attempt, int) or attempt <= 1:
            continue
        total += 1
        success = run.get("status") == "success"
        ok += success
        before = by_trigger.get((run.get("triggerId") or "", attempt - 1))
        if before is not None and before.get("status") in ("failed", "timeout"):
            cls = classify(before.get("errorType"), before.get("errorMessage"), before.get("status"))
            counts = per_class.setdefault(cls, [0, 0])
            counts[0] += 1
            counts[1] += success
    return {"attempts": total, "successes": ok, "successRate": round(ok / total, 4) if total else None,
            "byClass": {c: {"attempts": n, "successes": s, "successRate": round(s / n, 4)}
                        for c, (n, s) in sorted(per_class.items())}}


def retry_advice(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Whether and how to retry the job, from its recent runs (oldest first, with error fields and attempt)."""
    failures = [r for r in runs if r.get("status") in ("failed", "timeout")]
    decided = [r for r in runs if r.get("status") in ("success", "failed", "timeout")]
    counts: dict[str, dict[str, Any]] = {}
    for f in failures:
        cls = classify(f.get("errorType"), f.get("errorMessage"), f.get("status"))
        entry = counts.setdefault(cls, {"class": cls, "count": 0, "retryable": cls in RETRYABLE,
                                        "sample": (f.get("errorMessage") or f.get("errorType") or "")[:200]})
        entry["count"] += 1
    classes = sorted(counts.values(), key=lambda c: (-c["count"], c["class"]))
    for c in classes:
        c["share"] = round(c["count"] / len(failures), 4)
    measured = _retry_outcomes(runs)
    out: dict[str, Any] = {"runs": len(decided), "failures": len(failures), "classes": classes,
                           "retries": measured, "strategy": None, "maxRetries": 0, "initialDelaySeconds": None}
    if not failures:
        return {**out, "recommendation": "none_needed", "reason": f"none of the last {len(decided)} runs failed"}
    rate = len(failures) / len(decided) if decided else 1.0
    top = classes[0]["class"]
    mrate, mtotal = measured["successRate"], measured["attempts"]
    cls_meas = measured["byClass"].get(top)
    if cls_meas and cls_meas["attempts"] >= MIN_RETRIES_MEASURED:
        mrate, mtotal = cls_meas["successRate"], cls_meas["attempts"]
    told = (f"; {measured['successes']} of {measured['attempts']} retried attempts succeeded"
            if measured["attempts"] else "")
    if rate > HOPELESS_FAILURE_RATE and len(decided) >= 10:
        return {**out, "recommendation": "no_retry",
                "reason": f"it failed {percent(rate)} of the last {len(decided)} runs: retries only add load, "
                          f"fix the cause first{told}"}
    if mtotal >= MIN_RETRIES_MEASURED and mrate is not None and mrate < POOR_RETRY_RATE:
        return {**out, "recommendation": "no_retry",
                "reason": f"retries rarely help here: only {percent(mrate)} of {mtotal} retried attempts succeeded"}
    if top in RETRYABLE:
        delay, times = RETRYABLE[top]
        return {**out, "recommendation": "retry", "strategy": "exponential", "maxRetries": times,
                "initialDelaySeconds": delay,
                "reason": f"most failures ({classes[0]['count']} of {len(failures)}) are {top.replace('_', ' ')} "
                          f"errors, which are usually transient: retry up to {times} times with exponential "
                          f"backoff from {delay} s{told}"}
    if top in NOT_RETRYABLE:
        return {**out, "recommendation": "no_retry",
                "reason": f"most failures ({classes[0]['count']} of {len(failures)}) are {top.replace('_', ' ')} "
                          f"errors, which fail the same way on every attempt{told}"}
    if mtotal >= MIN_RETRIES_MEASURED and mrate is not None and mrate >= 0.5:
        return {**out, "recommendation": "retry", "strategy": "exponential", "maxRetries": 3,
                "initialDelaySeconds": 10,
                "reason": f"the errors are not of a known kind, but {percent(mrate)} of {mtotal} retried "
                          "attempts succeeded"}
    return {**out, "recommendation": "unclear",
            "reason": "the errors are not of a known kind and there are too few retried attempts to judge"
                      f"{told}; one retry after 30 s is a cautious start",
            "strategy": "exponential", "maxRetries": 1, "initialDelaySeconds": 30}


def _lateness(runs: list[dict[str, Any]], schedule: str, tz: Any) -> list[float]:
    """How late (ms) each run started after the fire time before it, for runs plausibly due to a fire."""
    out = []
    six = len(schedule.split()) == 6
    for run in runs[-200:]:
        started = run.get("startedAt")
        if not isinstance(started, (int, float)):
            continue
        try:
            it = croniter(schedule, datetime.fromtimestamp(started / 1000 + 0.001, tz), second_at_beginning=six)
            prev = it.get_prev(datetime).timestamp() * 1000
            nxt = it.get_next(datetime).timestamp() * 1000
            period = croniter(schedule, datetime.fromtimestamp(nxt / 1000, tz), second_at_beginning=six
                              ).get_next(datetime).timestamp() * 1000 - nxt
        except Exception:  # noqa: BLE001 - an odd expression: no lateness known
            return []
        late = started - prev
        if 0 <= late < period / 2:
            out.append(late)
    return out


def runtime_advice(runs: list[dict[str, Any]], job: dict[str, Any]) -> dict[str, Any]:
    """Suggested ``maxRuntimeSeconds`` (p99 of successful durations x 1.5, rounded up to a value a person would
    type) and ``graceSeconds`` (p99 of how late runs start after their due time x 1.5, at least 60 s)."""
    durations = [float(r.get("durationMs") or 0) for r in runs if r.get("status") == "success"]
    out: dict[str, Any] = {"runs": len(durations), "p50Ms": quantile(durations, 0.5),
                           "p95Ms": quantile(durations, 0.95),
                           "p99Ms": quantile(durations, 0.99), "maxMs": max(durations) if durations else None,
                           "currentMaxRuntimeSeconds": job.get("maxRuntimeSeconds"),
                           "currentGraceSeconds": job.get("graceSeconds"),
                           "suggestedMaxRuntimeSeconds": None, "suggestedGraceSeconds": None}
    reasons = []
    if len(durations) >= MIN_RUNTIME_RUNS:
        p99 = out["p99Ms"]
        out["suggestedMaxRuntimeSeconds"] = nice_seconds(p99 * 1.5 / 1000)
        reasons.append(f"max runtime {out['suggestedMaxRuntimeSeconds']} s: 1.5x the p99 duration "
                       f"{words_ms(p99)} of {len(durations)} successful runs")
    else:
        reasons.append(f"max runtime: {len(durations)} successful runs are too few (need {MIN_RUNTIME_RUNS})")
    schedule = job.get("schedule")
    if schedule:
        from chronos.timeutil import zone

        try:
            tz = zone(job.get("timezone"))
        except ValueError:
            tz = timezone.utc
        late = _lateness(runs, schedule.strip(), tz)
        if len(late) >= MIN_RUNTIME_RUNS:
            p99 = quantile(late, 0.99) or 0.0
            out["startLatenessP99Ms"] = p99
            out["suggestedGraceSeconds"] = max(60, nice_seconds(p99 * 1.5 / 1000))
            reasons.append(f"grace {out['suggestedGraceSeconds']} s: 1.5x the p99 start delay {words_ms(p99)} "
                           f"after the due time (at least 60 s)")
        else:
            reasons.append("grace: too few runs matched to their due times")
    else:
        reasons.append("grace: the job has no schedule")
    out["reason"] = "; ".join(reasons)
    return out
