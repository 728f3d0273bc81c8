"""The OpenAPI 3.1 document for ``/api``, built from one table of operations."""
from __future__ import annotations

from typing import Any

_ERR = {"$ref": "#/components/responses/Error"}
_PAGE = [("limit", "integer", "page size, at most 200"), ("cursor", "string", "from nextCursor")]
_RANGE = [("from", "string", "ISO-8601 or epoch ms"), ("to", "string", "ISO-8601 or epoch ms")]

# (method, path, summary, scope, query params, body schema ref, success status)
OPERATIONS: list[tuple[str, str, str, str | None, list[tuple[str, str, str]], str | None, int]] = [
    ("post", "/api/ingest/jobs/register", "Register or update jobs (idempotent upsert)", "ingest", [], "RegisterJobs", 200),
    ("post", "/api/ingest/executions/batch", "Report executions (idempotent by execId, at most 1000)", "ingest", [],
     "ExecutionBatch", 200),
    ("get", "/api/jobs", "List and search jobs", "read",
     [("q", "string", "full text over names"), ("tag", "string", ""), ("status", "string", "last status"),
      ("app", "string", "appId"), ("sort", "string", "name, -lastRunAt, nextRunAt, failures"), *_PAGE], None, 200),
    ("get", "/api/jobs/{jobId}", "One job", "read", [], None, 200),
    ("get", "/api/jobs/{jobId}/executions", "A job's executions, newest first", "read",
     [("status", "string", "comma-separated"), *_RANGE, *_PAGE], None, 200),
    ("get", "/api/executions", "Search executions", "read",
     [("q", "string", "full text over error message/type and job name"), ("jobId", "string", ""),
      ("status", "string", "comma-separated"), ("label", "string", "a list label or key:value"), *_RANGE, *_PAGE],
     None, 200),
    ("get", "/api/executions/{execId}", "One execution with logs", "read", [], None, 200),
    ("get", "/api/analytics/summary", "Runs, success rate, duration quantiles, active and failing jobs", "read",
     [*_RANGE, ("jobId", "string", "")], None, 200),
    ("get", "/api/analytics/timeseries", "A metric per time bucket", "read",
     [("metric", "string", "runs|successes|failures|duration_avg|duration_max"), ("bucket", "string", "1m|1h|1d|1w"),
      *_RANGE, ("jobId", "string", ""), ("groupBy", "string", "status|job")], None, 200),
    ("get", "/api/stream", "Live events as Server-Sent Events (Last-Event-ID resumes)", "read", [], None, 200),
    ("get", "/api/keys", "The caller's API keys", "read", [], None, 200),
    ("post", "/api/keys", "Create an API key (the secret is in this answer only)", "read", [], "CreateKey", 201),
    ("delete", "/api/keys/{keyId}", "Revoke an API key", "read", [], None, 200),
    ("get", "/api/ping-key", "The caller's ping key for slug ping URLs", "read", [], None, 200),
    ("get", "/api/health", "Redis reachable and modules present", None, [], None, 200),
    ("get", "/api/info", "Versions, modules, counts and limits", "read", [], None, 200),
    ("get", "/api/openapi.json", "This document", None, [], None, 200),
]

SCHEMAS: dict[str, Any] = {
    "RegisterJobs": {"type": "object", "required": ["jobs"], "properties": {"jobs": {
        "type": "array", "minItems": 1, "maxItems": 1000, "items": {"type": "object", "required": ["id"], "properties": {
            "id": {"type": "string"}, "name": {"type": "string"}, "schedule": {"type": "string"},
            "runMode": {"enum": ["once", "recurring"]}, "version": {"type": "string"},
            "signatureHash": {"type": "string"}, "orgId": {"type": "string"}, "appId": {"type": "string"},
            "runAt": {"type": ["string", "integer"]}, "timezone": {"type": "string"},
            "graceSeconds": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}},
            "description": {"type": "string"}, "maxRuntimeSeconds": {"type": "integer"}}}}}},
    "ExecutionBatch": {"type": "object", "required": ["executions"], "properties": {"executions": {
        "type": "array", "minItems": 1, "maxItems": 1000, "items": {"$ref": "#/components/schemas/ExecutionEvent"}}}},
    "ExecutionEvent": {"type": "object", "required": ["execId", "jobId", "status"], "properties": {
        "execId": {"type": "string"}, "jobId": {"type": "string"},
        "status": {"enum": ["running", "success", "failed", "timeout", "cancelled"]},
        "startedAt": {"type": ["string", "integer"]}, "finishedAt": {"type": ["string", "integer"]},
        "durationMs": {"type": "number", "minimum": 0}, "exitCode": {"type": "integer"},
        "errorMessage": {"type": "string"}, "errorType": {"type": "string"}, "errorStack": {"type": "string"},
        "stdout": {"type": "string"}, "stderr": {"type": "string"}, "attempt": {"type": "integer"},
        "labels": {"oneOf": [{"type": "array", "items": {"type": "string"}},
                             {"type": "object", "additionalProperties": {"type": "string"}}]},
        "metadata": {"type": "object"}, "jobVersion": {"type": "string"}, "appVersion": {"type": "string"},
        "codeSnippet": {"type": "string"}, "codeLanguage": {"type": "string"}, "triggerId": {"type": "string"},
        "host": {"type": "string"}, "pid": {"type": "integer"}}},
    "CreateKey": {"type": "object", "properties": {"name": {"type": "string"}, "scopes": {
        "type": "array", "items": {"enum": ["ingest", "read", "admin"]}}}},
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "details": {}}}}},
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.capitalize() for w in rest)


def _routes_not_in_table(paths: dict[str, Any]) -> dict[str, Any]:
    """Every other route of the API blueprint, described from its URL rule and view docstring, so the
    document always lists every endpoint (the table above adds parameters and bodies where known)."""
    from flask import current_app

    extra: dict[str, Any] = {}
    for rule in current_app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        path = "/api" + rule.rule.removeprefix("/api") if rule.rule.startswith("/api") else rule.rule
        for arg in rule.arguments:
            name = _camel(arg)
            for form in (f"<path:{arg}>", f"<int:{arg}>", f"<{arg}>"):
                path = path.replace(form, "{" + name + "}")
        view = current_app.view_functions[rule.endpoint]
        doc = (view.__doc__ or rule.endpoint).strip().splitlines()[0]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            m = method.lower()
            if m in paths.get(path, {}) or m in extra.get(path, {}):
                continue
            op: dict[str, Any] = {
                "summary": doc,
                "parameters": [{"name": _camel(a), "in": "path", "required": True, "schema": {"type": "string"}}
                               for a in sorted(rule.arguments)],
                "responses": {"200": {"description": "OK"}, "400": _ERR, "401": _ERR, "403": _ERR, "404": _ERR},
                "security": [{"apiKey": []}, {"bearer": []}],
            }
            if m in ("post", "put", "patch"):
                op["requestBody"] = {"required": False, "content": {"application/json": {"schema": {"type": "object"}}}}
            extra.setdefault(path, {})[m] = op
    return extra


def document(version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for method, path, summary, scope, params, body, ok in OPERATIONS:
        op: dict[str, Any] = {"summary": summary, "responses": {str(ok): {"description": "OK"}}}
        path_params = [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]
        op["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                            for p in path_params]
        op["parameters"] += [{"name": n, "in": "query", "required": False, "schema": {"type": t},
                              "description": d} for n, t, d in params]
        if body:
            op["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{body}"}}}}
        if scope:
            op["security"] = [{"apiKey": []}, {"bearer": []}]
            op["description"] = f"Needs a key with the '{scope}' scope (or a dashboard session)."
            for status in ("400", "401", "403", "429"):
                op["responses"][status] = _ERR
        if body:
            op["responses"]["413"] = _ERR
        if path_params:
            op["responses"]["404"] = _ERR
        if path == "/api/ingest/executions/batch":  # queued ingestion (CHRONOS_INGEST_QUEUE)
            op["responses"]["202"] = {"description": "Queued: recorded within moments, duplicates counted once"}
            op["responses"]["503"] = _ERR
        paths.setdefault(path, {})[method] = op
    for path, ops in _routes_not_in_table(paths).items():
        paths.setdefault(path, {}).update(ops)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Chronos Synapse API", "version": version},
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "responses": {"Error": {"description": "Error", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Error"}}}}},
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                                "bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
