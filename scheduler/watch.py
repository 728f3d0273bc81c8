"""Watching jobs: execution events (states, acknowledgements, dependencies), deadlines and runtimes.

* Events: every owner's event stream is read through one consumer group (``keys.SCHED_GROUP``), so with
  several schedulers each execution event is handled by one of them. A scheduler reads the streams of the
  owners it knows (``chr:users``; re-read when that set changes) from the moment the group was created.
  Events are handled a read at a time: grouped by job, each job's events are folded in order into its
  monitoring changes (``monitor.fold_executions``) and written with its latest trigger acknowledgement in
  one transaction. Which jobs have alert channels for the insight events and which have dependents is
  looked up once per read; every success of a job with dependents still starts them once.
* Deadlines: ``keys.sched_deadlines()`` scores each monitored job by its next late/missed check.
* Runtimes: running executions older than their job's ``maxRuntimeSeconds`` turn the job to ``timeout``.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

import orjson
from redis import Redis
from redis.client import Pipeline
from redis.exceptions import ResponseError

from chronos import keys, search
from chronos.config import Settings
from chronos.insights import anomalies
from chronos.scheduling import alerts, claims, flips, monitor
from chronos.scheduling.notify import Notifier
from chronos.scheduling.outage import OutageGuard
from chronos.scheduling.triggers import Emitter, ack_patch

log = logging.getLogger(__name__)

OnSuccess = Callable[[dict[str, Any], str, int], None]  # (job, execId, now)
READ_COUNT = 500
STREAMS_PER_READ = 100
RUNTIME_SCAN_EVERY_MS = 5_000
RECLAIM_EVERY_MS = 30_000
RECLAIM_IDLE_MS = 60_000  # events read by a scheduler that died before acknowledging them
INSIGHT_STATUSES = ("success", "failed", "timeout")
HOLD_REASON = "held back: ingestion as a whole is silent while many jobs are due (outage guard)"

# KEYS[1] deadlines; ARGV[1] member, ARGV[2] now. Removes the member only if its check is already due:
# a claim that just opened a new expectation re-scored it into the future, and that must survive.
ZREM_IF_DUE = """
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if s and tonumber(s) <= tonumber(ARGV[2]) then return redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0
"""


class Watcher:
    """Consumes execution events, checks deadlines and runtimes. ``before_read`` (if given) is called before
    each read of the event streams: the scheduler uses it to let a firing round go first."""

    def __init__(self, r: Redis, settings: Settings, *, clock: Callable[[], int], node_id: str,
                 on_success: OnSuccess | None = None, notifier: Notifier | None = None,
                 before_read: Callable[[], None] | None = None) -> None:
        self.r = r
        self.settings = settings
        self.clock = clock
        self.node_id = node_id
        self.on_success = on_success
        self.before_read = before_read
        self.emitter = Emitter(r)
        self.notifier = notifier or Notifier(r, settings, clock=clock)
        self.guard = OutageGuard(min_misses=settings.chronos_outage_min_misses)
        self.zrem_if_due = r.register_script(ZREM_IF_DUE)
        self.streams: list[bytes] = []
        self.owner_count = -1
        self.last_runtime_scan = 0
        self.last_reclaim = 0
        self.reclaim_idle_ms = RECLAIM_IDLE_MS

    def tick(self, now: int) -> bool:
        """One round; True when more events are waiting than one round reads."""
        busy = self.consume(now)
        self.check_deadlines(now)
        if now - self.last_runtime_scan >= RUNTIME_SCAN_EVERY_MS or now < self.last_runtime_scan:
            self.check_runtimes(now)
            self.last_runtime_scan = now
        return busy

    # ---- execution events ------------------------------------------------------------------------

    def _refresh_streams(self) -> None:
        n = self.r.scard(keys.users())
        if n == self.owner_count:
            return
        owners = sorted(x.decode() for x in self.r.smembers(keys.users()))
        for owner in owners:
            try:
                self.r.xgroup_create(keys.events(owner), keys.SCHED_GROUP, id="$", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self.streams = [keys.events(o).encode() for o in owners]
        self.owner_count = n

    def consume(self, now: int) -> bool:
        self._refresh_streams()
        busy = False
        for i in range(0, len(self.streams), STREAMS_PER_READ):
            chunk = self.streams[i:i + STREAMS_PER_READ]
            if self.before_read is not None:
                self.before_read()
            try:
                res = self.r.xreadgroup(keys.SCHED_GROUP, self.node_id, {s: ">" for s in chunk}, count=READ_COUNT)
            except ResponseError as exc:
                if "NOGROUP" in str(exc):  # the stream was deleted (a flush): create the groups again
                    self.owner_count = -1
                    return False
                raise
            for stream, entries in res or []:
                busy |= len(entries) >= READ_COUNT
                self._handle(stream.decode(), entries, now)
        if now - self.last_reclaim >= RECLAIM_EVERY_MS or now < self.last_reclaim:
            self.last_reclaim = now
            self.reclaim(now)
        return busy

    def reclaim(self, now: int) -> int:
        """Take over events another scheduler read but never acknowledged (it died mid-batch)."""
        taken = 0
        for stream in self.streams:
            try:
                _next, entries, *_ = self.r.xautoclaim(stream, keys.SCHED_GROUP, self.node_id, self.reclaim_idle_ms,
                                                       start_id="0-0", count=READ_COUNT)
            except ResponseError:
                continue
            entries = [e for e in entries if e and e[1] is not None]
            if entries:
                self._handle(stream.decode(), entries, now)
                taken += len(entries)
        return taken

    def _handle(self, stream: str, entries: list[tuple[bytes, dict[bytes, bytes]]], now: int) -> None:
        owner = stream[len(keys.EVENTS_PREFIX):]
        by_job: dict[str, list[dict[str, Any]]] = {}  # each job's events in the order they were recorded
        arrived = 0
        for _id, fields in entries:
            if fields.get(b"type") != b"execution":
                continue
            try:
                ev = orjson.loads(fields.get(b"data", b"{}"))
            except orjson.JSONDecodeError:
                continue
            arrived += 1
            if isinstance(ev, dict) and ev.get("jobId"):
                by_job.setdefault(ev["jobId"], []).append(ev)
        self.guard.count_ingest(self.r, now, arrived)
        if by_job:
            self._on_executions(owner, by_job, now)
        self.r.xack(stream, keys.SCHED_GROUP, *[e[0] for e in entries])

    def _on_executions(self, owner: str, by_job: dict[str, list[dict[str, Any]]], now: int) -> None:
        finals = [j for j, evs in by_job.items() if any(ev.get("status") in INSIGHT_STATUSES for ev in evs)]
        heard = alerts.heard(self.r, owner, finals)
        succeeded = [j for j, evs in by_job.items() if any(ev.get("status") == "success" for ev in evs)]
        upstream = self._with_dependents(owner, succeeded) if self.on_success is not None else set()
        for job_id, evs in by_job.items():
            done = self._fold(owner, job_id, evs, now)
            job = done[0] if done is not None else {"owner": owner, "id": job_id}
            for change in done[1] if done is not None else []:
                self._alert(job, change)
            for ev in evs:
                self._insight_alerts(owner, job_id, ev, now, heard.get(job_id, set()))
                if job_id in upstream and ev.get("status") == "success":
                    self._start_dependents(job, ev, now)

    def _fold(self, owner: str, job_id: str, evs: list[dict[str, Any]],
              now: int) -> tuple[dict[str, Any], list[monitor.Change]] | None:
        """One transaction for all of a job's events in this read: its monitoring changes and the latest
        trigger acknowledgement (``sched.lastAck`` holds one: the later ones of a read overwrite the earlier)."""
        acked = [ev for ev in evs if ev.get("triggerId")]

        def ack(pipe: Pipeline) -> None:
            ev = acked[-1]
            pipe.execute_command("JSON.MERGE", keys.job(owner, job_id), "$",
                                 orjson.dumps(ack_patch(ev["triggerId"], ev.get("execId", ""), now)))

        return flips.transact_many(self.r, self.emitter, owner, job_id,
                                   lambda job: monitor.fold_executions(job, evs, now), also=ack if acked else None)

    def _with_dependents(self, owner: str, job_ids: list[str]) -> set[str]:
        """The jobs among ``job_ids`` that other jobs depend on (one round trip)."""
        if not job_ids:
            return set()
        with self.r.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.exists(keys.job_dependents(owner, job_id))
            found = pipe.execute()
        return {job_id for job_id, n in zip(job_ids, found) if n}

    def _start_dependents(self, job: dict[str, Any], ev: dict[str, Any], now: int) -> None:
        try:
            self.on_success(job, ev.get("execId", ""), now)  # type: ignore[misc]
        except Exception:  # noqa: BLE001 - a dependency problem must not stop the event loop
            log.exception("dependents of %s/%s failed to start", job["owner"], job["id"])

    def _insight_alerts(self, owner: str, job_id: str, ev: dict[str, Any], now: int, heard: set[str]) -> None:
        """The opt-in alert events about single runs: a duration anomaly, an error group never seen before.
        ``heard``: the events some channel of this job listens to."""
        status = ev.get("status")
        if status not in INSIGHT_STATUSES:
            return
        job = {"owner": owner, "id": job_id, "name": ev.get("jobName") or job_id}
        try:
            # Only when some channel listens: the anomaly check reads the job's recent runs.
            if status == "success" and "anomaly" in heard:
                found = anomalies.detect_anomaly(self.r, owner, job_id, ev)
                if found is not None:
                    self.notifier.notify(job, "anomaly", {"from": "up", "to": "up", "reason": found.reason,
                                                          "at": now})
            group = ev.get("errorGroup")
            if group and "new_error" in heard and self.r.set(keys.error_group_announced(owner, group),
                                                             ev.get("execId", ""), nx=True,
                                                             ex=self.settings.retention_seconds):
                # First occurrence for this owner (SET NX: one alert per group, whichever scheduler sees it).
                reason = f"new error: {ev.get('errorType') or 'error'}: {(ev.get('errorMessage') or '')[:200]}"
                self.notifier.notify(job, "new_error", {"from": None, "to": "failing", "reason": reason, "at": now})
        except Exception:  # noqa: BLE001 - an insight problem must not stop the event loop
            log.exception("insight alerts for %s/%s failed", owner, job_id)

    def _alert(self, job: dict[str, Any], change: monitor.Change) -> None:
        if change.alert:
            self.notifier.notify(job, change.alert, change.flip(), held=change.held)

    # ---- deadlines and runtimes ------------------------------------------------------------------

    def check_deadlines(self, now: int, limit: int = 1000) -> int:
        members = self.r.zrangebyscore(keys.sched_deadlines(), "-inf", now, start=0, num=limit)
        if not members:
            return 0
        hold = HOLD_REASON if self.guard.is_outage(self.r, now) else None
        for member in members:
            owner, job_id = claims.parse_deadline_member(member)
            done = flips.transact(self.r, self.emitter, owner, job_id,
                                  lambda job: monitor.on_deadline(job, now, hold))
            if done is None:
                self.zrem_if_due(keys=[keys.sched_deadlines()], args=[member, now])
                continue
            job, change = done
            if change.to in ("late", "missed") and change.frm != change.to:
                # Late flips count too: they come a grace period before the misses, so by the time a
                # flood of misses arrives the guard already knows, and holds the first one as well.
                self.guard.count_miss(self.r, now)
                if hold is None and change.to == "late" and self.guard.is_outage(self.r, now):
                    hold = HOLD_REASON
            self._alert(job, change)
        return len(members)

    def check_runtimes(self, now: int, limit: int = 500) -> None:
        q = search.join(["@status:{running}", search.numeric("startedAt", now - 8 * 86_400_000, now - 1000)])
        res = self.r.execute_command("FT.SEARCH", keys.IDX_EXECUTIONS, q, "RETURN", 3, "$.owner", "$.jobId",
                                     "$.startedAt", "SORTBY", "startedAt", "ASC", "LIMIT", 0, limit, "DIALECT", 2)
        for i in range(1, len(res), 2):
            f = dict(zip(res[i + 1][::2], res[i + 1][1::2]))
            owner, job_id = f[b"$.owner"].decode(), f[b"$.jobId"].decode()
            exec_id = res[i].decode().split(":", 3)[-1]
            started = int(float(f[b"$.startedAt"]))
            done = flips.transact(self.r, self.emitter, owner, job_id,
                                  lambda job: monitor.on_runtime_exceeded(job, exec_id, started, now))
            if done is not None:
                self._alert(*done)
