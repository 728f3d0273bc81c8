"""New server-side job callbacks: the type switch, the dry run and create.

The form becomes the definition ``POST /api/jobs`` takes; ``jobdefs.validate``/``dry_run`` and
``jobstore.create`` (the functions behind the API) judge and store it. Viewers may dry-run but not create.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, clientside_callback, ctx, dcc, html
from dash.exceptions import PreventUpdate

from callbacks.common import owner, redis, role, settings
from chronos.scheduling import jobdefs, jobstore
from chronos.scheduling.jobdefs import DefinitionError
from chronos.scheduling.jobstore import JobConflict
from chronos.timeutil import now_ms
from pages._format import job_href
from pages._ids import job_new as ids

VIEWER_REFUSED = "Viewers cannot create jobs; ask a member or an administrator."
FIELDS = ("name", "job_id", "schedule", "timezone", "type", "method", "url", "body", "command", "cwd", "to",
          "subject", "email_body", "timeout", "strategy", "max_retries", "base_delay")


class Refused(Exception):
    """The signed-in user may not do that; the message says why."""


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _number(value: Any) -> Any:
    """An integral number as int (number inputs may send 3.0); anything else as it came, for validation."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _body(text: str) -> Any:
    """A JSON object or array when the text is one, else the text itself."""
    if text[:1] in "{[":
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def definition_from_form(form: dict[str, Any]) -> dict[str, Any]:
    """The definition ``POST /api/jobs`` would take, from the form's values (blank fields left out)."""
    kind = form.get("type") if form.get("type") in jobdefs.JOB_TYPES else "http"
    d: dict[str, Any] = {"name": _text(form.get("name")), "type": kind}
    for key, field in (("id", "job_id"), ("schedule", "schedule"), ("timezone", "timezone")):
        if _text(form.get(field)):
            d[key] = _text(form.get(field))
    target: dict[str, Any] = {}
    if kind == "http":
        target = {"method": _text(form.get("method")) or "GET", "url": _text(form.get("url"))}
        if _text(form.get("body")):
            target["body"] = _body(_text(form.get("body")))
    elif kind == "shell":
        target = {"command": _text(form.get("command"))}
        if _text(form.get("cwd")):
            target["cwd"] = _text(form.get("cwd"))
    else:
        target = {"to": [a.strip() for a in _text(form.get("to")).split(",") if a.strip()],
                  "subject": _text(form.get("subject")), "body": form.get("email_body") or ""}
    if form.get("timeout") not in (None, ""):
        target["timeoutMs"] = _number(form["timeout"])
    d["target"] = target
    retry = {"strategy": form.get("strategy") or "immediate"}
    for key, field in (("maxRetries", "max_retries"), ("baseDelayMs", "base_delay")):
        if form.get(field) not in (None, ""):
            retry[key] = _number(form[field])
    d["retry"] = retry
    return d


def dry_run(definition: dict[str, Any], now: int) -> dict[str, Any]:
    """``{"valid": False, "error": {field, message}}`` or ``{"valid": True, timezone, nextFires, checks}``."""
    try:
        d = jobdefs.validate(definition)
    except DefinitionError as exc:
        return {"valid": False, "error": {"field": exc.field, "message": exc.message}}
    return {"valid": True, **jobdefs.dry_run(d, settings(), now)}


def create(r: Any, me: str, user_role: str, definition: dict[str, Any], paused: bool, now: int) -> dict[str, Any]:
    """Store the job; its document. Raises Refused, DefinitionError or JobConflict."""
    if user_role == "viewer":
        raise Refused(VIEWER_REFUSED)
    return jobstore.create(r, me, definition, now, paused=paused)


def error_view(field: str, message: str) -> Any:
    return dbc.Alert([html.Strong(field), ": ", message], color="danger", className="py-2 mb-2", id="job-new-error")


def local_time(iso: str) -> str:
    """``2025-03-31T09:00:00+02:00`` as ``Mon 2025-03-31 09:00:00 +02:00`` (the wall time of the job's zone)."""
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    offset = dt.strftime("%z")
    return dt.strftime("%a %Y-%m-%d %H:%M:%S ") + (f"{offset[:3]}:{offset[3:]}" if offset else "")


def dry_run_view(result: dict[str, Any]) -> Any:
    if not result["valid"]:
        return error_view(result["error"]["field"], result["error"]["message"])
    fires = result["nextFires"]
    checks = [html.Li([html.I(className="bi bi-check-circle text-success me-1" if c["ok"]
                              else "bi bi-exclamation-triangle text-warning me-1"),
                       html.Strong(c["check"]), ": ", c["message"]], className="job-new-check")
              for c in result["checks"]]
    return html.Div([
        html.Div(f"Next {len(fires)} fire times ({result['timezone']})", className="fw-semibold mb-1"),
        html.Ol([html.Li(local_time(t), title=t, className="font-monospace small") for t in fires],
                id="job-new-fires")
        if fires else html.P("It never fires as defined.", className="text-warning"),
        html.Div("Target checks", className="fw-semibold mb-1"),
        html.Ul(checks, className="list-unstyled mb-0", id="job-new-checks") if checks else
        html.P("Nothing to check.", className="text-body-secondary mb-0"),
    ])


# Show the fields of the chosen type only.
clientside_callback(
    "function(t){ var on = {}, off = {display: 'none'};"
    " return [t === 'http' ? on : off, t === 'shell' ? on : off, t === 'email' ? on : off]; }",
    Output(ids.http, "style"),
    Output(ids.shell, "style"),
    Output(ids.email, "style"),
    Input(ids.type, "value"),
    prevent_initial_call=True,
)


@callback(
    Output(ids.create, "disabled"),
    Input(ids.name, "id"),
)
def lock_create_for_viewers(_id: str):
    return role() == "viewer"


@callback(
    Output(ids.result, "children"),
    Input(ids.dry_run, "n_clicks"),
    Input(ids.create, "n_clicks"),
    State(ids.paused, "value"),
    *[State(getattr(ids, f), "value") for f in FIELDS],
    prevent_initial_call=True,
)
def dry_run_or_create(_dry, _create, paused: bool | None, *values: Any):
    me, user_role = owner(), role()
    if ctx.triggered_id not in (ids.dry_run, ids.create) or not ctx.triggered or not ctx.triggered[0].get("value"):
        raise PreventUpdate
    definition, now = definition_from_form(dict(zip(FIELDS, values, strict=True))), now_ms()
    result = dry_run(definition, now)
    if ctx.triggered_id == ids.dry_run or not result["valid"]:
        return dry_run_view(result)
    try:
        doc = create(redis(), me, user_role, definition, bool(paused), now)
    except Refused as exc:
        return dbc.Alert(str(exc), color="warning", className="py-2", id="job-new-refused")
    except DefinitionError as exc:
        return error_view(exc.field, exc.message)
    except JobConflict as exc:
        return error_view("id", str(exc))
    return html.Div([
        dbc.Alert(["Created ", html.Strong(doc.get("name") or doc["id"]), f" ({doc['id']})"
                   + (", paused." if doc.get("state") == "paused" else "."), " ",
                   dcc.Link("Open the job", href=job_href(doc["id"]), className="alert-link")],
                  color="success", className="py-2", id="job-new-created"),
        dry_run_view(result),
    ])
