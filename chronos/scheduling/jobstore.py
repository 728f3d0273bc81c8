"""Storing server-side jobs: create, update with versions, dependencies, pause, run now, delete, import/export.

A server-side job is an ordinary job document (``chr:job:<owner>:<id>``, so lists, search, monitoring and the
dashboard treat it like any other) with ``source: "server"``, its ``type``/``target``/``retry`` and a
``definitionVersion``. Every change of a ``VERSIONED_FIELDS`` value adds a version to ``keys.job_versions``.
Changing when a job runs restarts its timeline at the change (no backlog of fires from the old schedule).

Dependencies: ``dependsOn`` lists jobs of the same owner; a job runs after each success of what it depends on
(when all of them last succeeded). A definition that would close a loop is refused with the loop spelled out.
"""
from __future__ import annotations

import re
import secrets
from typing import Any, Iterable

import orjson
from redis import Redis

from chronos import keys, search
from chronos.scheduling import cron, flips, monitor
from chronos.scheduling.execute import Attempts, Task
from chronos.scheduling.jobdefs import DEFINITION_FIELDS, VERSIONED_FIELDS, DefinitionError, validate
from chronos.scheduling.triggers import Emitter
from chronos.store import jobs as job_store

VERSIONS_MAX = 100


class JobConflict(Exception):
    """The operation conflicts with existing data (an id taken, a job still needed by others)."""


class JobNotFound(Exception):
    pass


def next_run(definition: dict[str, Any], now: int) -> int | None:
    if definition.get("runMode") == "once" and definition.get("runAt") is not None:
        return int(definition["runAt"])
    if definition.get("schedule"):
        return cron.next_after(definition["schedule"], definition.get("timezone"), now)
    return None


def new_id(r: Redis, owner: str, name: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "job"
    while True:
        candidate = f"{base}-{secrets.token_hex(2)}"
        if not r.exists(keys.job(owner, candidate)):
            return candidate


def find_cycle(r: Redis, owner: str, job_id: str, depends_on: Iterable[str],
               overrides: dict[str, list[str]] | None = None) -> list[str] | None:
    """A dependency path from ``job_id`` back to itself if ``job_id`` depended on ``depends_on``, else None."""
    graph: dict[str, list[str]] = dict(overrides or {})
    graph[job_id] = list(depends_on)

    def deps(node: str) -> list[str]:
        if node not in graph:
            found = job_store.get_many(r, owner, [node], "$.dependsOn")
            graph[node] = list(found.get(node) or [])
        return graph[node]

    stack: list[tuple[str, list[str]]] = [(job_id, [job_id])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for dep in deps(node):
            if dep == job_id:
                return path + [dep]
            if dep not in seen:
                seen.add(dep)
                stack.append((dep, path + [dep]))
    return None


def check_dependencies(r: Redis, owner: str, job_id: str, depends_on: list[str],
                       overrides: dict[str, list[str]] | None = None) -> None:
    """Raise DefinitionError when a dependency is unknown or would make a cycle."""
    known = set(overrides or {})
    missing = [d for d in depends_on if d not in known and not r.exists(keys.job(owner, d))]
    if missing:
        raise DefinitionError("dependsOn", f"no job {missing[0]!r}")
    loop = find_cycle(r, owner, job_id, depends_on, overrides)
    if loop:
        raise DefinitionError("dependsOn", "dependency cycle: " + " → ".join(loop))


def _write_version(pipe: Any, owner: str, job_id: str, version: int, definition: dict[str, Any], now: int) -> None:
    pipe.lpush(keys.job_versions(owner, job_id), orjson.dumps({"version": version, "at": now, "definition": definition}))
    pipe.ltrim(keys.job_versions(owner, job_id), 0, VERSIONS_MAX - 1)


def create(r: Redis, owner: str, data: dict[str, Any], now: int, *, paused: bool = False) -> dict[str, Any]:
    """Validate and create a server-side job. Raises DefinitionError or JobConflict (id taken)."""
    d = validate(data)
    job_id = d.pop("id", None) or new_id(r, owner, d["name"])
    check_dependencies(r, owner, job_id, d.get("dependsOn", []))
    doc = {**job_store.new_job_doc(owner, job_id, registered=True, name=d["name"], at_ms=now), **d,
           "source": "server", "definitionVersion": 1}
    nxt = next_run(d, now)
    if nxt is not None:
        doc["nextRunAt"] = nxt
    if paused:
        doc["state"] = "paused"
    if not r.execute_command("JSON.SET", keys.job(owner, job_id), "$", orjson.dumps(doc), "NX"):
        raise JobConflict(f"a job with id {job_id!r} already exists")
    with r.pipeline(transaction=True) as pipe:
        for dep in d.get("dependsOn", []):
            pipe.sadd(keys.job_dependents(owner, dep), job_id)
        _write_version(pipe, owner, job_id, 1, {"id": job_id, **d}, now)
        pipe.execute()
    return doc


def update(r: Redis, owner: str, job_id: str, data: dict[str, Any], now: int) -> tuple[dict[str, Any], bool]:
    """Replace a server-side job's definition. Returns (document, whether a new version was made)."""
    old = job_store.get(r, owner, job_id)
    if old is None:
        raise JobNotFound(job_id)
    if old.get("source") != "server":
        raise JobConflict("this job is registered by an SDK: only its monitoring fields can be changed (PATCH)")
    d = validate({**data, "id": job_id})
    d.pop("id", None)
    check_dependencies(r, owner, job_id, d.get("dependsOn", []))
    changed = any(old.get(f) != d.get(f) for f in VERSIONED_FIELDS)
    version = int(old.get("definitionVersion") or 1) + (1 if changed else 0)
    patch: dict[str, Any] = {f: d.get(f) for f in DEFINITION_FIELDS}  # absent fields become null: removed
    patch.update(definitionVersion=version, updatedAt=now, name=d["name"])
    if any(old.get(f) != d.get(f) for f in ("schedule", "timezone", "runMode", "runAt")):
        patch["nextRunAt"] = next_run(d, now)
        patch["sched"] = {"cursor": None if d.get("runMode") == "once" else now, "onceFiredAt": None}
    with r.pipeline(transaction=True) as pipe:
        pipe.execute_command("JSON.MERGE", keys.job(owner, job_id), "$", orjson.dumps(patch))
        for dep in set(old.get("dependsOn") or []) - set(d.get("dependsOn", [])):
            pipe.srem(keys.job_dependents(owner, dep), job_id)
        for dep in d.get("dependsOn", []):
            pipe.sadd(keys.job_dependents(owner, dep), job_id)
        if changed:
            _write_version(pipe, owner, job_id, version, {"id": job_id, **d}, now)
        pipe.execute()
    return job_store.get(r, owner, job_id) or {}, changed


def patch_monitoring(r: Redis, owner: str, job_id: str, fields: dict[str, Any], now: int) -> dict[str, Any]:
    """Change monitoring fields (thresholds, grace, policies, tags) of any job, SDK-registered included."""
    r.execute_command("JSON.MERGE", keys.job(owner, job_id), "$", orjson.dumps({**fields, "updatedAt": now}))
    return job_store.get(r, owner, job_id) or {}


def versions(r: Redis, owner: str, job_id: str) -> list[dict[str, Any]]:
    return [orjson.loads(x) for x in r.lrange(keys.job_versions(owner, job_id), 0, VERSIONS_MAX - 1)]


def clone(r: Redis, owner: str, job_id: str, now: int, *, new_id_: str | None = None, name: str | None = None,
          paused: bool = True) -> dict[str, Any]:
    """A copy of a server-side job's definition as a new job (paused unless asked otherwise)."""
    old = job_store.get(r, owner, job_id)
    if old is None:
        raise JobNotFound(job_id)
    if old.get("source") != "server":
        raise JobConflict("only server-side jobs can be cloned")
    d = {f: old[f] for f in DEFINITION_FIELDS if old.get(f) is not None}
    d["name"] = name or f"{old.get('name', job_id)} (copy)"
    if new_id_:
        d["id"] = new_id_
    return create(r, owner, d, now, paused=paused)


def delete(r: Redis, owner: str, job_id: str) -> None:
    """Delete a job and its scheduling data. Refused while other jobs depend on it."""
    job = job_store.get(r, owner, job_id)
    if job is None:
        raise JobNotFound(job_id)
    needed_by = sorted(x.decode() for x in r.smembers(keys.job_dependents(owner, job_id)))
    if needed_by:
        raise JobConflict(f"{', '.join(needed_by)} depend(s) on {job_id!r}: change their dependsOn first")
    with r.pipeline(transaction=True) as pipe:
        pipe.delete(keys.job(owner, job_id), keys.fires(owner, job_id), keys.flips(owner, job_id),
                    keys.job_versions(owner, job_id), keys.job_dependents(owner, job_id))
        for dep in job.get("dependsOn") or []:
            pipe.srem(keys.job_dependents(owner, dep), job_id)
        pipe.hdel(keys.alert_rules(owner), job_id)
        pipe.zrem(keys.sched_deadlines(), f"{owner} {job_id}")
        pipe.hdel(keys.sched_expect(), f"{owner} {job_id}")
        pipe.execute()


def set_paused(r: Redis, owner: str, job_id: str, paused: bool, now: int) -> dict[str, Any]:
    """Pause (no fires, no monitoring, incident closed) or resume (fires from now on, no backlog)."""
    if job_store.get(r, owner, job_id) is None:
        raise JobNotFound(job_id)
    flips.transact(r, Emitter(r), owner, job_id, lambda job: monitor.on_pause(job, paused, now))
    if not paused:
        job = job_store.get(r, owner, job_id) or {}
        r.execute_command("JSON.MERGE", keys.job(owner, job_id), "$", orjson.dumps(
            {"sched": {"cursor": now}, "nextRunAt": next_run(job, now) if job.get("runMode") != "once" else None}))
    return job_store.get(r, owner, job_id) or {}


def run_now(r: Redis, attempts: Attempts | None, job: dict[str, Any], now: int) -> str:
    """Start a run outside the schedule: queued for a scheduler (server-side) or a trigger (SDK)."""
    tid = f"{job['id']}@manual-{now}"
    if job.get("source") == "server":
        (attempts or _queue(r)).enqueue(Task(job["owner"], job["id"], now, tid, 1, "manual"), now)
    else:
        Emitter(r).trigger(job["owner"], job["id"], tid, now, pipe=r)
    return tid


def _queue(r: Redis) -> Any:
    class _Q:
        def enqueue(self, task: Task, at_ms: int) -> None:
            queued = Task(task.owner, task.job_id, task.due, task.trigger_id, task.attempt, task.reason, at_ms)
            r.zadd(keys.sched_retries(), {queued.to_member(): at_ms})
    return _Q()


def clear_history(r: Redis, owner: str, job_id: str) -> int:
    """Delete the job's executions, fire log and flips, and reset its run counters. Returns executions deleted."""
    q = search.join([search.tag("owner", owner), search.tag("jobId", job_id)])
    deleted = 0
    while True:
        res = r.execute_command("FT.SEARCH", keys.IDX_EXECUTIONS, q, "NOCONTENT", "LIMIT", 0, 500, "DIALECT", 2)
        ids = res[1:]
        if not ids:
            break
        deleted += r.delete(*ids)
    r.delete(keys.fires(owner, job_id), keys.flips(owner, job_id))
    r.execute_command("JSON.MERGE", keys.job(owner, job_id), "$", orjson.dumps({
        "totalRuns": 0, "totalFailures": 0, "consecutiveFailures": 0, "lastStatus": None, "lastRunAt": None,
        "lastDurationMs": None, "lastExecId": None, "lastError": None, "monitor": {"failStreak": 0}}))
    return deleted
