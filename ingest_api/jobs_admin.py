"""Job management: server-side jobs (create, replace, patch, delete, pause, run now, history, versions, clone,
dry run, templates, import/export) and the scheduler's status. Owner-scoped; changes need ``ingest``.

Reads of jobs stay in ``read.py`` (``GET /api/jobs``, ``GET /api/jobs/{id}``); this module adds the rest.
"""
from __future__ import annotations

from typing import Any, Literal, Optional

import yaml
from flask import Response, g, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chronos import keys
from chronos.db import store
from chronos.scheduling import claims, jobdefs, jobstore, registry
from chronos.scheduling.jobdefs import DefinitionError
from chronos.scheduling.jobstore import JobConflict, JobNotFound
from chronos.scheduling.triggers import trigger_status
from chronos.store import jobs as job_store
from chronos.timeutil import now_ms, to_iso
from ingest_api import bp
from ingest_api.auth import require
from ingest_api.errors import ApiError
from ingest_api.ingest import json_body
from ingest_api.read import to_api

MAX_IMPORT = 500


def _out(doc: dict[str, Any]) -> dict[str, Any]:
    out = to_api(doc)
    if isinstance(out.get("stateSince"), (int, float)):
        out["stateSince"] = to_iso(int(out["stateSince"]))
    return out


def _bad(exc: DefinitionError) -> ApiError:
    code = "dependency_cycle" if "cycle" in exc.message else "validation_failed"
    return ApiError(str(exc), 400, code=code, details=[{"field": exc.field, "message": exc.message}])


def _own_job(job_id: str) -> dict[str, Any]:
    doc = job_store.get(store.client, g.principal.owner, job_id)
    if doc is None:
        raise ApiError(f"no job {job_id!r}", 404)
    return doc


def _object() -> dict[str, Any]:
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError("expected a JSON object", 400)
    return body


@bp.post("/jobs")
@require("ingest")
def create_job():
    """Create a server-side job (``template``: start from a template's definition)."""
    body = _object()
    paused = bool(body.pop("paused", False))
    if "template" in body:
        tpl = jobdefs.template(str(body.pop("template")))
        if tpl is None:
            raise ApiError("unknown template (see GET /api/job-templates)", 400, code="validation_failed")
        body = {**tpl["definition"], **body}
    try:
        doc = jobstore.create(store.client, g.principal.owner, body, now_ms(), paused=paused)
    except DefinitionError as exc:
        raise _bad(exc) from None
    except JobConflict as exc:
        raise ApiError(str(exc), 409) from None
    return jsonify(_out(doc)), 201


@bp.put("/jobs/<path:job_id>")
@require("ingest")
def replace_job(job_id: str):
    _own_job(job_id)
    return _update(job_id, _object())


def _update(job_id: str, definition: dict[str, Any]):
    try:
        doc, versioned = jobstore.update(store.client, g.principal.owner, job_id, definition, now_ms())
    except DefinitionError as exc:
        raise _bad(exc) from None
    except JobConflict as exc:
        raise ApiError(str(exc), 409) from None
    return jsonify({**_out(doc), "newVersion": versioned})


class MonitorPatch(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    graceSeconds: Optional[int] = Field(default=None, ge=0, le=365 * 86400)
    maxRuntimeSeconds: Optional[int] = Field(default=None, ge=1, le=30 * 86400)
    misfirePolicy: Optional[Literal["run_within_grace", "run_late"]] = None
    coalesce: Optional[Literal["latest", "none"]] = None
    misfireGraceSeconds: Optional[int] = Field(default=None, ge=0, le=30 * 86400)
    failureThreshold: Optional[int] = Field(default=None, ge=1, le=720)
    recoveryThreshold: Optional[int] = Field(default=None, ge=1, le=720)
    tags: Optional[list[str]] = Field(default=None, max_length=50)
    description: Optional[str] = Field(default=None, max_length=5000)


@bp.patch("/jobs/<path:job_id>")
@require("ingest")
def patch_job(job_id: str):
    """Change some fields: any definition field of a server-side job; monitoring fields of any job."""
    job = _own_job(job_id)
    body = _object()
    if job.get("source") == "server":
        return _update(job_id, {**jobdefs.definition_of(job), **body})
    try:
        fields = MonitorPatch.model_validate(body).model_dump(exclude_none=True, mode="json")
    except ValidationError as exc:
        e = exc.errors(include_url=False)[0]
        where = ".".join(str(x) for x in e["loc"])
        raise ApiError(f"{where}: {e['msg']} (an SDK-registered job accepts monitoring fields only)", 400,
                       code="validation_failed") from None
    return jsonify(_out(jobstore.patch_monitoring(store.client, g.principal.owner, job_id, fields, now_ms())))


@bp.delete("/jobs/<path:job_id>")
@require("ingest")
def delete_job(job_id: str):
    _own_job(job_id)
    try:
        jobstore.delete(store.client, g.principal.owner, job_id)
    except JobConflict as exc:
        raise ApiError(str(exc), 409) from None
    return jsonify({"deleted": job_id})


@bp.patch("/jobs/<path:job_id>/status")
@require("ingest")
def job_status(job_id: str):
    """``{status: "paused" | "active"}``: pause stops fires and monitoring; resume fires from now on."""
    _own_job(job_id)
    status = _object().get("status")
    if status not in ("paused", "active"):
        raise ApiError("status must be 'paused' or 'active'", 400, code="validation_failed")
    doc = jobstore.set_paused(store.client, g.principal.owner, job_id, status == "paused", now_ms())
    return jsonify(_out(doc))


@bp.post("/jobs/<path:job_id>/run")
@require("ingest")
def run_job(job_id: str):
    """Run now: queued for a scheduler (server-side jobs) or sent as a trigger (SDK jobs)."""
    job = _own_job(job_id)
    if job.get("state") == "paused":
        raise ApiError("the job is paused: resume it first", 409)
    tid = jobstore.run_now(store.client, None, job, now_ms())
    return jsonify({"jobId": job_id, "triggerId": tid, "queued": True}), 202


@bp.delete("/jobs/<path:job_id>/history")
@require("ingest")
def clear_job_history(job_id: str):
    _own_job(job_id)
    n = jobstore.clear_history(store.client, g.principal.owner, job_id)
    return jsonify({"jobId": job_id, "executionsDeleted": n})


@bp.get("/jobs/<path:job_id>/versions")
@require("read")
def job_versions(job_id: str):
    job = _own_job(job_id)
    items = jobstore.versions(store.client, job["owner"], job_id)
    return jsonify({"jobId": job_id, "current": job.get("definitionVersion"),
                    "items": [{**v, "at": to_iso(v["at"])} for v in items]})


@bp.post("/jobs/<path:job_id>/clone")
@require("ingest")
def clone_job(job_id: str):
    """A copy as a new job, paused unless ``{"paused": false}``; ``id`` and ``name`` optional."""
    _own_job(job_id)
    body = json_body() if request.get_data() else {}
    try:
        doc = jobstore.clone(store.client, g.principal.owner, job_id, now_ms(), new_id_=body.get("id"),
                             name=body.get("name"), paused=bool(body.get("paused", True)))
    except DefinitionError as exc:
        raise _bad(exc) from None
    except JobConflict as exc:
        raise ApiError(str(exc), 409) from None
    return jsonify(_out(doc)), 201


@bp.get("/jobs/<path:job_id>/fires")
@require("read")
def job_fires(job_id: str):
    """The job's latest fires (triggered, run, missed, coalesced, skipped), with trigger acknowledgements."""
    job = _own_job(job_id)
    items = claims.recent_fires(store.client, job["owner"], job_id)
    acks = trigger_status(store.client, job["owner"], [f["triggerId"] for f in items if f.get("triggerId")])
    for f in items:
        if f.get("triggerId"):
            f["acknowledgedBy"] = acks.get(f["triggerId"])
        f["dueAt"], f["firedAt"] = to_iso(f["dueAt"]), to_iso(f["firedAt"])
    return jsonify({"jobId": job_id, "items": items})


@bp.get("/jobs/<path:job_id>/dry-run")
@require("read")
def dry_run_job(job_id: str):
    job = _own_job(job_id)
    return jsonify(jobdefs.dry_run(job, store.settings, now_ms()))


@bp.post("/jobs/dry-run")
@require("read")
def dry_run_definition():
    """Validate a definition without storing it: next 10 fires in its timezone and the target checks."""
    body = _object()
    try:
        d = jobdefs.validate(body)
        if d.get("dependsOn"):
            jobstore.check_dependencies(store.client, g.principal.owner, d.get("id") or "(new)", d["dependsOn"])
    except DefinitionError as exc:
        return jsonify({"valid": False, "error": {"field": exc.field, "message": exc.message}})
    return jsonify({"valid": True, **jobdefs.dry_run(d, store.settings, now_ms())})


@bp.get("/job-templates")
@require("read")
def job_templates():
    return jsonify({"items": jobdefs.TEMPLATES})


@bp.get("/export/jobs")
@require("read")
def export_jobs():
    """The caller's server-side job definitions, as JSON (default) or YAML (``?format=yaml``)."""
    r, owner = store.client, g.principal.owner
    defs, offset = [], 0
    while True:
        page = job_store.search_jobs(r, job_store.JobQuery(owner=owner, offset=offset, limit=200))
        defs += [jobdefs.definition_of(d) for d in page.items if d.get("source") == "server"]
        if page.next_offset is None:
            break
        offset = page.next_offset
    doc = {"version": 1, "jobs": defs}
    if request.args.get("format") == "yaml":
        return Response(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), mimetype="application/yaml")
    return jsonify(doc)


def _import_body() -> list[Any]:
    if (request.mimetype or "").endswith("yaml"):
        try:
            body = yaml.safe_load(request.get_data(as_text=True))
        except yaml.YAMLError as exc:
            raise ApiError(f"malformed YAML: {exc}"[:300], 400, code="malformed_yaml") from None
    else:
        body = json_body()
    items = body.get("jobs") if isinstance(body, dict) else body
    if not isinstance(items, list) or not items:
        raise ApiError("expected a list of jobs (or {jobs: [...]})", 400, code="validation_failed")
    if len(items) > MAX_IMPORT:
        raise ApiError(f"at most {MAX_IMPORT} jobs per import", 413)
    return items


@bp.post("/import/jobs")
@require("ingest")
def import_jobs():
    """Create or replace server-side jobs from JSON or YAML; all or nothing; ``?dryRun=1`` validates only."""
    r, owner, now = store.client, g.principal.owner, now_ms()
    items = _import_body()
    errors, plan, defs = [], [], []
    for i, item in enumerate(items):
        try:
            defs.append(jobdefs.validate(item))
        except DefinitionError as exc:
            errors.append({"index": i, "field": exc.field, "message": exc.message})
            defs.append({})
    ids = [d.get("id") for d in defs if d.get("id")]
    if len(ids) != len(set(ids)):
        errors.append({"index": None, "field": "id", "message": "an id appears twice"})
    overrides = {d["id"]: d.get("dependsOn", []) for d in defs if d.get("id")}
    for i, d in enumerate(defs):
        if not d:
            continue
        existing = job_store.get(r, owner, d["id"]) if d.get("id") else None
        if existing is not None and existing.get("source") != "server":
            errors.append({"index": i, "field": "id", "message": f"{d['id']!r} is an SDK-registered job"})
            continue
        try:
            jobstore.check_dependencies(r, owner, d.get("id") or f"(item {i})", d.get("dependsOn", []), overrides)
        except DefinitionError as exc:
            errors.append({"index": i, "field": exc.field, "message": exc.message})
        plan.append({"index": i, "id": d.get("id"), "action": "update" if existing else "create"})
    if errors:
        first = errors[0]
        where = f"jobs[{first['index']}]." if first["index"] is not None else ""
        raise ApiError(f"{where}{first['field']}: {first['message']}", 400, code="validation_failed", details=errors)
    if request.args.get("dryRun") in ("1", "true", "yes"):
        return jsonify({"dryRun": True, "valid": True, "jobs": plan})
    done = []
    for step in _dependency_order(plan, defs):  # a job after the jobs of the set it depends on
        d = defs[step["index"]]
        if step["action"] == "create":
            step["id"] = jobstore.create(r, owner, d, now)["id"]
        else:
            jobstore.update(r, owner, step["id"], d, now)
        done.append(step)
    return jsonify({"dryRun": False, "jobs": sorted(done, key=lambda p: p["index"])})


def _dependency_order(plan: list[dict[str, Any]], defs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    pending, placed, order = list(plan), set(), []
    in_set = {d.get("id") for d in defs if d.get("id")}
    while pending:
        ready = [p for p in pending if all(dep in placed or dep not in in_set
                                           for dep in defs[p["index"]].get("dependsOn", []))]
        if not ready:  # cannot happen after the cycle check; keep the input order rather than loop
            ready = pending[:1]
        for p in ready:
            pending.remove(p)
            placed.add(p["id"])
            order.append(p)
    return order


@bp.get("/scheduler/status")
@require("admin")
def scheduler_status():
    """Scheduler processes (alive = heartbeat present) and the queues they work from."""
    r = store.client
    nodes = registry.list_nodes(r)
    for n in nodes:
        for f in ("startedAt", "lastBeat"):
            if isinstance(n.get(f), int):
                n[f] = to_iso(n[f])
    return jsonify({"nodes": nodes, "alive": sum(1 for n in nodes if n["alive"]),
                    "pendingRetries": r.zcard(keys.sched_retries()), "pendingDeadlines": r.zcard(keys.sched_deadlines())})
