"""The ingest benchmark's workload (bench/ingest.py): the events the API run posts, and the commands the
raw baseline writes for the same stored documents.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import orjson

from chronos import keys
from chronos.config import Settings
from chronos.store import jobs as job_store
from chronos.store.recording import CHUNK, EVENT_STREAM_MAXLEN
from chronos.telemetry import FAILURE_STATUSES, build_execution, event_summary

JOBS = 50
HOUR_MS = 3_600_000


# ---- the workload --------------------------------------------------------------------------------

def job_definitions(count: int = JOBS) -> list[dict[str, Any]]:
    schedules = ("*/5 * * * *", "0 * * * *", "*/15 * * * *", "30 2 * * *", "0 */6 * * *")
    return [{"id": f"bench-job-{i:03d}", "name": f"Bench job {i:03d}", "schedule": schedules[i % len(schedules)],
             "runMode": "recurring", "appId": f"bench-app-{i % 3}", "tags": ["bench", f"group-{i % 4}"],
             "version": "1.0.0"} for i in range(count)]


def make_events(n: int, run_id: str, now: int, seed: int = 42) -> list[dict[str, Any]]:
    """N final execution events (times in epoch ms, finished in the last 23 hours), ~4% failures.

    Already in the form the API stores after validation, so the baseline can build identical documents.
    """
    rng = random.Random(seed)
    defs = job_definitions()
    events = []
    for i in range(n):
        job = defs[i % len(defs)]
        finished = now - rng.randrange(60_000, 23 * HOUR_MS)
        duration = int(rng.lognormvariate(8.5, 1.0))
        failed = rng.random() < 0.04
        ev: dict[str, Any] = {
            "execId": f"bench-{run_id}-{i:07d}", "jobId": job["id"], "status": "failed" if failed else "success",
            "startedAt": finished - duration, "finishedAt": finished, "durationMs": duration,
            "exitCode": 1 if failed else 0, "attempt": 1, "host": f"worker-{i % 8}",
            "labels": {"env": "prod", "region": "eu-west-1"} if i % 2 else ["prod", "bench"],
            "metadata": {"rowsProcessed": rng.randrange(100, 100_000), "batch": i // 500},
            "jobVersion": "1.0.0", "appVersion": "2.3.1", "appId": job["appId"],
            "stdout": f"processing batch {i // 500}\nread {rng.randrange(100, 100_000)} rows\ndone in {duration} ms",
        }
        if failed:
            ev.update({
                "errorType": "ConnectionError",
                "errorMessage": f"Error connecting to db-{i % 3}.internal:5432. Connection refused.",
                "errorStack": "Traceback (most recent call last):\n  File \"/srv/app/jobs/etl.py\", line 88, in run\n"
                              "    conn = connect(DSN)\nConnectionError: Error connecting to db.internal:5432",
                "stderr": "ERROR connection refused\nretrying later",
                "codeSnippet": "def run():\n    conn = connect(DSN)\n    return load(conn)", "codeLanguage": "python",
            })
        events.append(ev)
    return events


def api_payloads(events: list[dict[str, Any]], batch: int) -> list[bytes]:
    return [orjson.dumps({"executions": events[i:i + batch]}) for i in range(0, len(events), batch)]


@dataclass
class RawItem:
    """One execution's stored document and job patch, prepared before the clock starts."""
    exec_key: str
    job_key: str
    job_index: int
    doc: bytes
    new_job: bytes
    patch: dict[str, Any]
    summary: bytes
    status: str
    finished: int
    duration: int


class RawWriter:
    """The commands the record script runs for a chunk of new final executions, as plain commands."""

    def __init__(self, owner: str, settings: Settings, now: int) -> None:
        self.owner = owner
        self.now = now
        self.ttl = settings.retention_seconds
        self.events_key = keys.events(owner)
        self.tier_ms = [keys.TIER_MS[t] for t in keys.TIERS]
        self.retention = [d * 86_400_000 for d in (settings.chronos_ts_raw_days, settings.chronos_ts_hourly_days,
                                                   settings.chronos_ts_daily_days)]
        self.defs = job_definitions()
        self.index = {d["id"]: i for i, d in enumerate(self.defs)}
        self.next_runs = [job_store.compute_next_run(d, now) for d in self.defs]
        # The script reads each job's counters once per chunk; a blind pipeline cannot, so the job state is
        # folded here, in submission order, while preparing.
        self.jobs = [{"last": -1, "cf": 0, "runs": 0, "fails": 0} for _ in self.defs]

    def item(self, ev: dict[str, Any], settings: Settings) -> RawItem:
        i = self.index[ev["jobId"]]
        doc = build_execution(ev, owner=self.owner, job_name=self.defs[i]["name"], received_ms=self.now,
                              max_log_bytes=settings.chronos_max_log_bytes)
        patch = {"lastStatus": doc["status"], "lastRunAt": doc["finishedAt"], "lastDurationMs": doc["durationMs"],
                 "lastExecId": doc["execId"], "updatedAt": self.now}
        if self.next_runs[i] is not None:
            patch["nextRunAt"] = self.next_runs[i]
        if doc["status"] in FAILURE_STATUSES and doc.get("errorMessage"):
            patch["lastError"] = doc["errorMessage"][:500]
        return RawItem(
            exec_key=keys.execution(self.owner, doc["execId"]), job_key=keys.job(self.owner, ev["jobId"]),
            job_index=i, doc=orjson.dumps(doc),
            new_job=orjson.dumps(job_store.new_job_doc(self.owner, ev["jobId"], registered=False, at_ms=self.now)),
            patch=patch, summary=orjson.dumps(event_summary(doc)), status=doc["status"],
            finished=doc["finishedAt"], duration=doc["durationMs"])

    def chunk_commands(self, items: list[RawItem]) -> list[tuple[Any, ...]]:
        """Per execution: the document, its expiry and its event; per job: one JSON.SET NX and one
        JSON.MERGE; per series bucket touched: one TS.ADD of the chunk's sum (or max); one PUBLISH."""
        out: list[tuple[Any, ...]] = []
        patches: dict[int, dict[str, Any]] = {}
        samples: dict[tuple[int, int, int, int], dict[int, int]] = {}
        for it in items:
            failure = it.status in ("failed", "timeout")
            success = it.status == "success"
            out += [("JSON.SET", it.exec_key, "$", it.doc), ("EXPIRE", it.exec_key, self.ttl)]
            if it.job_index not in patches:
                out.append(("JSON.SET", it.job_key, "$", it.new_job, "NX"))
                patches[it.job_index] = {}
            job = self.jobs[it.job_index]
            if it.finished >= job["last"]:
                job["last"] = it.finished
                patches[it.job_index].update(it.patch)
                job["cf"] = job["cf"] + 1 if failure else 0 if success else job["cf"]
            job["runs"] += 1
            job["fails"] += int(failure)
            values = (1, int(success), int(failure), it.duration, it.duration)
            for scope in (it.job_index, -1):
                for m in range(len(keys.METRICS)):
                    for t in range(len(keys.TIERS)):
                        bucket = it.finished - it.finished % self.tier_ms[t]
                        if bucket >= self.now - self.retention[t]:
                            s = samples.setdefault((scope, m, t, bucket), {})
                            s[0] = max(s.get(0, 0), values[m]) if m == 4 else s.get(0, 0) + values[m]
            out.append(("XADD", self.events_key, "MAXLEN", "~", EVENT_STREAM_MAXLEN, "*", "type", "execution",
                        "data", it.summary))
        for i, patch in patches.items():
            job = self.jobs[i]
            patch.update(consecutiveFailures=job["cf"], totalRuns=job["runs"], totalFailures=job["fails"])
            out.append(("JSON.MERGE", keys.job(self.owner, self.defs[i]["id"]), "$", orjson.dumps(patch)))
        for (scope, m, t, bucket), value in samples.items():
            scope_name = self.defs[scope]["id"] if scope >= 0 else keys.ALL_JOBS_SCOPE
            metric, tier = keys.METRICS[m], keys.TIERS[t]
            out.append(("TS.ADD", keys.series(self.owner, scope_name, metric, tier), bucket, value[0],
                        "RETENTION", self.retention[t], "ENCODING", "UNCOMPRESSED",
                        "ON_DUPLICATE", "MAX" if metric == "dur_max" else "SUM",
                        "LABELS", "owner", self.owner, "scope", scope_name, "metric", metric, "tier", tier))
        out.append(("PUBLISH", self.events_key, "0-0"))  # the script publishes the last entry id
        return out

    def batch_commands(self, items: list[RawItem]) -> list[tuple[Any, ...]]:
        """One API request's batch: the script's chunks, in order."""
        return [cmd for i in range(0, len(items), CHUNK) for cmd in self.chunk_commands(items[i:i + CHUNK])]
