"""The outage guard: when ingestion as a whole goes silent while many jobs are due, hold back "missed" alerts.

Sentry Crons compares its check-in volume with the previous days and marks misses "unknown" while its own
intake is down; otherwise one broken load balancer would page every user for every job. Here the
schedulers count, per minute, the executions they see arriving and the deadlines that turn a job late or missed.
``is_outage`` is true when, over the last ``window`` minutes,

* at least ``min_misses`` jobs were found late or missed, and
* executions arrived at less than ``ratio`` of the usual rate (the average of the preceding hour),
  while that usual rate was not zero (a deployment that never ingests anything has no outage to detect).

The states still flip to ``missed`` (that is what is known); only the alerts are held, and the alert
history records them as held with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass

from redis import Redis

from chronos import keys

COUNTER_TTL_S = 2 * 3600


@dataclass(frozen=True)
class OutageGuard:
    window: int = 3          # minutes looked at
    baseline: int = 60       # minutes before the window that define the usual rate
    min_misses: int = 10
    ratio: float = 0.1

    def count_ingest(self, r: Redis, now_ms: int, n: int) -> None:
        if n > 0:
            _incr(r, keys.sched_ingest_count(now_ms // 60_000), n)

    def count_miss(self, r: Redis, now_ms: int, n: int = 1) -> None:
        _incr(r, keys.sched_miss_count(now_ms // 60_000), n)

    def is_outage(self, r: Redis, now_ms: int) -> bool:
        minute = now_ms // 60_000
        recent = range(minute - self.window + 1, minute + 1)
        before = range(minute - self.window - self.baseline + 1, minute - self.window + 1)
        names = ([keys.sched_miss_count(m) for m in recent] + [keys.sched_ingest_count(m) for m in recent]
                 + [keys.sched_ingest_count(m) for m in before])
        values = [int(v) if v else 0 for v in r.mget(names)]
        w = self.window
        misses, ingest, usual = sum(values[:w]), sum(values[w:2 * w]), sum(values[2 * w:])
        if misses < self.min_misses or usual == 0:
            return False
        usual_per_window = usual * w / self.baseline
        return ingest < self.ratio * usual_per_window


def _incr(r: Redis, key: str, n: int) -> None:
    with r.pipeline(transaction=False) as pipe:
        pipe.incrby(key, n)
        pipe.expire(key, COUNTER_TTL_S)
        pipe.execute()
