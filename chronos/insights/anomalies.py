"""Anomalies of a job against its own history: durations, failure spikes and failure streaks.

Durations are judged against a robust baseline, the median and MAD of the logarithms of the durations of
the successful runs before the run in question (the last 200); logarithms, because durations are skewed
(a run twice as long is as unusual as one half as long) and a symmetric spread would flag the long tail.
When the same hour of day (UTC) has enough history (20 runs over at least 3 days) and its median differs
from the all-hours median by 20 % or more, that hour's runs are the baseline instead, so a nightly heavy
run is compared with other nightly runs.

Kinds (``Anomaly.kind``) and when they are flagged:

    too_slow         robust z of ln(duration) >= 3.5, at least 25 % and 50 ms above the median
                     (successful or failed runs)
    too_fast         robust z <= -3.5, at most half the median and 50 ms below it (successful runs)
    duration_drift   16 of the last 20 successful runs slower than the median of the 200 before them,
                     and their median at least 25 % (and 50 ms) higher
    failure_spike    the window's failure rate against the 7 days before it: z >= 3, at least twice the
                     baseline rate, 10 points above it and 3 failures
    failure_streak   the newest 3 or more runs all failed

``score`` is how far past its threshold an anomaly is: 1.0 just flagged, 2.0 twice as far.
"""
from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from redis import Redis

from chronos.config import Settings
from chronos.insights import history
from chronos.insights.stats import MAD_TO_SIGMA, median, percent, words_ms
from chronos.store import executions as exec_store
from chronos.store import jobs as job_store
from chronos.store import metrics
from chronos.timeutil import now_ms, to_iso

BASELINE = 200
MIN_BASELINE = 20
Z_FLAG = 3.5
SLOW_RATIO = 1.25
FAST_RATIO = 0.5
MIN_DIFF_MS = 50
LOG_SIGMA_FLOOR = 0.05  # a spread of at least ~5 %, so a job whose runs all take the same time stays usable
MIN_HOUR_RUNS = 20
MIN_HOUR_DAYS = 3
HOUR_SHIFT = 0.2
DRIFT_RECENT = 20
DRIFT_SHARE = 0.8
DRIFT_RATIO = 1.25
SPIKE_Z = 3.0
SPIKE_MIN_FAILURES = 3
SPIKE_MIN_DELTA = 0.1
SPIKE_BASELINE_MS = 7 * 86_400_000
STREAK_MIN = 3
FIELDS = ("execId", "status", "startedAt", "finishedAt", "durationMs")  # what the analysis reads
KINDS = ("too_slow", "too_fast", "duration_drift", "failure_spike", "failure_streak")
HOUR_MS, DAY_MS = 3_600_000, 86_400_000


@dataclass
class Anomaly:
    kind: str
    job_id: str
    job_name: str
    at: int                      # epoch ms: the run's finish, or the window's end for a spike
    score: float
    direction: str               # "up" (slower, more failures) or "down" (faster)
    reason: str
    exec_id: str | None = None
    value: float | None = None   # the duration, median, failure rate or streak length observed
    expected: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "jobId": self.job_id, "jobName": self.job_name, "at": to_iso(self.at),
                "score": round(self.score, 2), "direction": self.direction, "reason": self.reason,
                "execId": self.exec_id, "value": self.value, "expected": self.expected, "details": self.details}


@dataclass(frozen=True)
class Baseline:
    median: float      # ms
    log_median: float  # ln ms
    log_sigma: float   # robust spread of ln ms (1.4826 x MAD, at least LOG_SIGMA_FLOOR)
    n: int
    scope: str


def _hour(ms: int) -> int:
    return (ms // HOUR_MS) % 24


def _ln(duration_ms: float) -> float:
    return math.log(max(float(duration_ms), 1.0))


class _Window:
    """The last BASELINE log durations, kept sorted: an O(1) median and a MAD in about n/2 steps."""

    def __init__(self) -> None:
        self.fifo: deque[tuple[float, int]] = deque()
        self.sorted: list[float] = []
        self.days: Counter[int] = Counter()

    def add(self, value: float, day: int) -> None:
        insort(self.sorted, value)
        self.fifo.append((value, day))
        self.days[day] += 1
        if len(self.fifo) > BASELINE:
            old, old_day = self.fifo.popleft()
            del self.sorted[bisect_left(self.sorted, old)]
            self.days[old_day] -= 1
            if not self.days[old_day]:
                del self.days[old_day]

    def __len__(self) -> int:
        return len(self.sorted)

    def median(self) -> float:
        s, n = self.sorted, len(self.sorted)
        return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2

    def fit(self, scope: str) -> Baseline:
        s, n, m = self.sorted, len(self.sorted), self.median()
        # The smallest deviations from m, merged outwards from the median: the MAD is the middle one.
        i, j, devs, inf = bisect_left(s, m) - 1, bisect_left(s, m), [], float("inf")
        while len(devs) < n // 2 + 1:
            left = m - s[i] if i >= 0 else inf
            right = s[j] - m if j < n else inf
            if left <= right:
                devs.append(left)
                i -= 1
            else:
                devs.append(right)
                j += 1
        mad = devs[-1] if n % 2 else (devs[-2] + devs[-1]) / 2
        return Baseline(math.exp(m), m, max(MAD_TO_SIGMA * mad, LOG_SIGMA_FLOOR), n, scope)


class Baselines:
    """Baselines from successful runs added oldest first: over all hours, and per hour of day (UTC) where
    that hour has enough history and differs from the rest."""

    def __init__(self) -> None:
        self.overall = _Window()
        self.hours: dict[int, _Window] = {}
        self._memo: dict[int, Baseline | None] = {}

    def add(self, started_ms: int, duration_ms: float) -> None:
        value, day = _ln(duration_ms), started_ms // DAY_MS
        self.overall.add(value, day)
        hour = _hour(started_ms)
        window = self.hours.get(hour)
        if window is None:
            window = self.hours[hour] = _Window()
        window.add(value, day)
        self._memo.clear()

    def _choose(self, hour: int) -> tuple[_Window, str] | None:
        if len(self.overall) < MIN_BASELINE:
            return None
        same = self.hours.get(hour)
        if (same is not None and len(same) >= MIN_HOUR_RUNS and len(same.days) >= MIN_HOUR_DAYS
                and abs(same.median() - self.overall.median()) >= math.log1p(HOUR_SHIFT)):
            return same, f"runs at {hour:02d}:00-{hour:02d}:59 UTC"
        return self.overall, "all hours"

    def median_ms(self, hour: int) -> float | None:
        """The median duration of the baseline ``current(hour)`` would give (cheap), or None."""
        chosen = self._choose(hour)
        return math.exp(chosen[0].median()) if chosen else None

    def current(self, hour: int) -> Baseline | None:
        """The baseline for a run that started in ``hour``; None when there are too few runs."""
        if hour not in self._memo:
            chosen = self._choose(hour)
            self._memo[hour] = chosen[0].fit(chosen[1]) if chosen else None
        return self._memo[hour]


def judge_duration(run: dict[str, Any], base: Baseline, job_id: str, job_name: str) -> Anomaly | None:
    """A too_slow or too_fast anomaly for one finished run, or None when it is within the usual spread."""
    d, status, m = float(run.get("durationMs") or 0), run.get("status"), base.median
    z = (_ln(d) - base.log_median) / base.log_sigma
    if z >= Z_FLAG and d >= m * SLOW_RATIO and d - m >= MIN_DIFF_MS and status in ("success", "failed"):
        kind, direction, score = "too_slow", "up", z / Z_FLAG
    elif z <= -Z_FLAG and d <= m * FAST_RATIO and m - d >= MIN_DIFF_MS and status == "success":
        kind, direction, score = "too_fast", "down", -z / Z_FLAG
    else:
        return None
    usual = f"the usual {words_ms(m)} (median of {base.n} successful runs, {base.scope})"
    reason = (f"took {words_ms(d)}, {d / m:.1f}x {usual}" if kind == "too_slow"
              else f"finished in {words_ms(d)}, {percent(d / m)} of {usual}; check that it did its work")
    return Anomaly(kind=kind, job_id=job_id, job_name=job_name, at=int(run["finishedAt"]), score=score,
                   direction=direction, reason=reason, exec_id=run.get("execId"), value=d, expected=round(m, 1),
                   details={"baselineMedianMs": round(m, 1), "baselineRuns": base.n, "baselineScope": base.scope,
                            "spreadFactor": round(math.exp(base.log_sigma), 3), "z": round(z, 2)})


def duration_anomalies(runs: list[dict[str, Any]], from_ms: int, to_ms: int, job_id: str,
                       job_name: str) -> list[Anomaly]:
    """too_slow / too_fast runs finished in [from, to], each judged against the successful runs before it."""
    baselines = Baselines()
    out = []
    for run in runs:
        started = int(run.get("startedAt") or run["finishedAt"])
        if from_ms <= run["finishedAt"] <= to_ms and run.get("status") in ("success", "failed"):
            hour = _hour(started)
            m, d = baselines.median_ms(hour), float(run.get("durationMs") or 0)
            # Only a run past the ratio thresholds can be flagged: the full baseline (MAD) only for those.
            if m is not None and (d >= m * SLOW_RATIO or d <= m * FAST_RATIO):
                found = judge_duration(run, baselines.current(hour), job_id, job_name)  # type: ignore[arg-type]
                if found:
                    out.append(found)
        if run.get("status") == "success":
            baselines.add(started, run.get("durationMs") or 0)
    return out


def drift(runs: list[dict[str, Any]], from_ms: int, to_ms: int, job_id: str, job_name: str) -> Anomaly | None:
    """An upward drift of the newest successful runs' durations, or None."""
    ok = [r for r in runs if r.get("status") == "success"]
    recent, older = ok[-DRIFT_RECENT:], ok[-(DRIFT_RECENT + BASELINE):-DRIFT_RECENT]
    if len(recent) < DRIFT_RECENT or len(older) < MIN_BASELINE or not from_ms <= recent[-1]["finishedAt"] <= to_ms:
        return None
    old_m = median([float(r["durationMs"] or 0) for r in older])
    new_m = median([float(r["durationMs"] or 0) for r in recent])
    assert old_m is not None and new_m is not None
    slower = sum(1 for r in recent if float(r["durationMs"] or 0) > old_m)
    if slower < DRIFT_SHARE * len(recent) or new_m < old_m * DRIFT_RATIO or new_m - old_m < MIN_DIFF_MS:
        return None
    ratio = new_m / old_m if old_m > 0 else DRIFT_RATIO * 2
    return Anomaly(
        kind="duration_drift", job_id=job_id, job_name=job_name, at=int(recent[-1]["finishedAt"]),
        score=(ratio - 1) / (DRIFT_RATIO - 1), direction="up", exec_id=recent[-1].get("execId"),
        value=new_m, expected=old_m, details={"recentRuns": len(recent), "olderRuns": len(older), "slower": slower},
        reason=(f"the last {len(recent)} successful runs took a median of {words_ms(new_m)}, up {percent(ratio - 1)} "
                f"from {words_ms(old_m)} over the {len(older)} runs before them; "
                f"{slower} of {len(recent)} were slower"))


def streak(runs: list[dict[str, Any]], from_ms: int, to_ms: int, job_id: str, job_name: str) -> Anomaly | None:
    """The newest runs all failed (cancelled runs are skipped), at least STREAK_MIN of them; or None."""
    decided = [r for r in runs if r.get("status") != "cancelled"]
    failed: list[dict[str, Any]] = []
    for r in reversed(decided):
        if r.get("status") not in history.FAILED:
            break
        failed.append(r)
    if len(failed) < STREAK_MIN or not from_ms <= failed[0]["finishedAt"] <= to_ms:
        return None
    last, first = failed[0], failed[-1]
    at_least = "at least " if len(failed) == len(decided) and len(runs) >= history.HISTORY else ""
    error = ": ".join(x for x in (last.get("errorType"), (last.get("errorMessage") or "")[:160]) if x)
    return Anomaly(
        kind="failure_streak", job_id=job_id, job_name=job_name, at=int(last["finishedAt"]),
        score=len(failed) / STREAK_MIN, direction="up", exec_id=last.get("execId"), value=float(len(failed)),
        details={"since": to_iso(int(first["finishedAt"])), "firstExecId": first.get("execId")},
        reason=(f"the last {at_least}{len(failed)} runs failed in a row, since {to_iso(int(first['finishedAt']))}"
                + (f"; last error: {error}" if error else "")))


def spike(r: Redis, settings: Settings, owner: str, job_id: str, job_name: str, from_ms: int,
          to_ms: int) -> Anomaly | None:
    """A failure rate in [from, to] well above the job's own rate over the 7 days before; or None."""
    now = now_ms()
    kw = dict(now=now, raw_days=settings.chronos_ts_raw_days, hourly_days=settings.chronos_ts_hourly_days,
              job_id=job_id)
    win = metrics.totals(r, owner, from_ms, to_ms, **kw)  # type: ignore[arg-type]
    base = metrics.totals(r, owner, from_ms - SPIKE_BASELINE_MS, from_ms - 1, **kw)  # type: ignore[arg-type]
    f, n = win["failures"], win["failures"] + win["successes"]
    f0, n0 = base["failures"], base["failures"] + base["successes"]
    if n0 < MIN_BASELINE or n == 0 or f < SPIKE_MIN_FAILURES:
        return None
    p0 = (f0 + 1) / (n0 + 2)  # smoothed: a job that never failed still has a finite expectation
    rate = f / n
    z = (f - n * p0) / math.sqrt(n * p0 * (1 - p0))
    if z < SPIKE_Z or rate < 2 * p0 or rate - p0 < SPIKE_MIN_DELTA:
        return None
    return Anomaly(
        kind="failure_spike", job_id=job_id, job_name=job_name, at=to_ms, score=z / SPIKE_Z, direction="up",
        value=round(rate, 4), expected=round(f0 / n0, 4),
        details={"failures": f, "runs": n, "baselineFailures": f0, "baselineRuns": n0, "z": round(z, 2)},
        reason=(f"{f} of {n} runs failed ({percent(rate)}) in this window, against {f0} of {n0} "
                f"({percent(f0 / n0)}) in the 7 days before"))


def job_anomalies(r: Redis, settings: Settings, job: dict[str, Any], from_ms: int, to_ms: int,
                  runs: list[dict[str, Any]] | None = None) -> list[Anomaly]:
    """Every kind of anomaly of one job in [from, to]; ``runs`` are its recent runs up to ``to`` when the caller
    has already read them (``history.recent_runs``)."""
    owner, job_id, name = job["owner"], job["id"], job.get("name") or job["id"]
    if runs is None:
        runs = history.recent_runs(r, owner, job_id, before_ms=to_ms, fields=FIELDS)
        if runs and runs[-1].get("status") in history.FAILED:  # the error a streak reports
            doc = exec_store.get(r, owner, runs[-1]["execId"]) or {}
            runs[-1].update({k: doc[k] for k in ("errorType", "errorMessage") if k in doc})
    found = duration_anomalies(runs, from_ms, to_ms, job_id, name)
    for extra in (drift(runs, from_ms, to_ms, job_id, name), streak(runs, from_ms, to_ms, job_id, name),
                  spike(r, settings, owner, job_id, name, from_ms, to_ms)):
        if extra:
            found.append(extra)
    return found


def find_anomalies(r: Redis, settings: Settings, owner: str | None, *, from_ms: int, to_ms: int,
                   job_id: str | None = None, max_jobs: int = 100) -> dict[str, Any]:
    """Anomalies of one job (``job_id``; ``owner`` must then be set) or of the owner's jobs that ran in the
    window (the ``max_jobs`` most recently active), newest first."""
    if job_id is not None:
        job = job_store.get(r, owner, job_id) if owner else None
        jobs, total = ([job], 1) if job else ([], 0)
    else:
        jobs, total = history.active_jobs(r, owner, from_ms, max_jobs)
    items: list[Anomaly] = []
    for job in jobs:
        items += job_anomalies(r, settings, job, from_ms, to_ms)
    items.sort(key=lambda a: (-a.at, -a.score))
    return {"from": to_iso(from_ms), "to": to_iso(to_ms), "jobsChecked": len(jobs), "jobsActive": total,
            "items": [a.to_dict() for a in items]}


def detect_anomaly(r: Redis, owner: str, job_id: str, execution_doc: dict[str, Any]) -> Anomaly | None:
    """A too_slow / too_fast anomaly for one stored, finished execution (times in epoch ms), judged against
    the job's successful runs that finished before it; None when it is normal or there is too little history.
    Meant for an alert rule that runs after each execution is recorded."""
    finished = execution_doc.get("finishedAt")
    if execution_doc.get("status") not in ("success", "failed") or not isinstance(finished, (int, float)):
        return None
    prev_runs = history.recent_runs(r, owner, job_id, before_ms=int(finished), statuses=("success",),
                                    limit=history.HISTORY, fields=("execId", "startedAt", "finishedAt", "durationMs"))
    baselines = Baselines()
    for p in prev_runs:
        if p.get("execId") != execution_doc.get("execId"):
            baselines.add(int(p.get("startedAt") or p["finishedAt"]), p.get("durationMs") or 0)
    base = baselines.current(_hour(int(execution_doc.get("startedAt") or finished)))
    if base is None:
        return None
    return judge_duration(execution_doc, base, job_id, execution_doc.get("jobName") or job_id)
