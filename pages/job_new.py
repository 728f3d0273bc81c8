"""A new server-side job (http, shell or email): the form, a dry run with the next fire times, and create.

``/jobs/new?template=<id>`` starts from one of the templates (``GET /api/job-templates``). The page is
registered with an order (so its path is matched before ``/jobs/<job_id>``) but hidden from the navbar.
"""
from __future__ import annotations

import json
from typing import Any
from zoneinfo import available_timezones

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from chronos.scheduling.jobdefs import TEMPLATES
from pages._components import create_card, create_page_header
from pages._ids import job_new as ids

dash.register_page(__name__, path="/jobs/new", name="New job", title="New job · Chronos Synapse", order=1.1,
                   hidden=True)

TIMEZONES = sorted(available_timezones())
BLANK: dict[str, Any] = {"name": "", "type": "http", "schedule": "", "target": {"method": "GET", "url": ""}}


def initial(template_id: str) -> dict[str, Any]:
    """The form's starting values: a template's definition, or a blank http job."""
    found = next((t for t in TEMPLATES if t["id"] == template_id), None)
    return found["definition"] if found else BLANK


def _field(label: str, control: Any, hint: str | None = None, **col: Any) -> dbc.Col:
    children = [dbc.Label(label, html_for=control.id, className="small mb-1"), control]
    if hint:
        children.append(dbc.FormText(hint))
    return dbc.Col(children, className="mb-2", **col)


def create_target_fields(d: dict[str, Any]) -> list[Any]:
    """The http, shell and email fieldsets; only the chosen type's is shown (a client-side callback)."""
    t, kind = d.get("target") or {}, d.get("type", "http")
    body = t.get("body")
    body_text = body if isinstance(body, str) or body is None else json.dumps(body)
    command = t.get("command")
    command_text = " ".join(command) if isinstance(command, list) else (command or "")
    to = t.get("to")
    return [
        dbc.Row([
            _field("Method", dbc.Select(id=ids.method, value=t.get("method", "GET") if kind == "http" else "GET",
                                        size="sm", options=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]), md=2),
            _field("URL", dbc.Input(id=ids.url, value=t.get("url", "") if kind == "http" else "", size="sm",
                                    placeholder="https://example.com/hook"),
                   "Must be allowed by CHRONOS_OUTBOUND_ALLOW.", md=10),
            _field("Body", dbc.Textarea(id=ids.body, value=(body_text or "") if kind == "http" else "", rows=2,
                                        size="sm", placeholder='optional: text, or JSON such as {"ping": true}'),
                   md=12),
        ], id=ids.http, className="g-2", style={} if kind == "http" else {"display": "none"}),
        dbc.Row([
            _field("Command", dbc.Input(id=ids.command, value=command_text if kind == "shell" else "", size="sm",
                                        placeholder="echo hello"),
                   "Split like a shell; runs only when the server sets CHRONOS_ALLOW_SHELL=1.", md=8),
            _field("Working directory", dbc.Input(id=ids.cwd, value=t.get("cwd", "") if kind == "shell" else "",
                                                  size="sm", placeholder="optional"), md=4),
        ], id=ids.shell, className="g-2", style={} if kind == "shell" else {"display": "none"}),
        dbc.Row([
            _field("To", dbc.Input(id=ids.to, value=(", ".join(to) if isinstance(to, list) else (to or ""))
                                   if kind == "email" else "", size="sm",
                                   placeholder="team@example.com, ops@example.com"), md=6),
            _field("Subject", dbc.Input(id=ids.subject, value=t.get("subject", "") if kind == "email" else "",
                                        size="sm"), md=6),
            _field("Message", dbc.Textarea(id=ids.email_body, value=t.get("body", "") if kind == "email" else "",
                                           rows=2, size="sm"), md=12),
        ], id=ids.email, className="g-2", style={} if kind == "email" else {"display": "none"}),
        dbc.Row([_field("Timeout (ms)", dbc.Input(id=ids.timeout, type="number", min=100, step=100, size="sm",
                                                  value=t.get("timeoutMs"), placeholder="type's default"), md=3)],
                className="g-2"),
    ]


def layout(template: str = "", **_unknown: object) -> html.Div:
    d = initial(template if isinstance(template, str) else "")
    retry = d.get("retry") or {}
    templates = dbc.DropdownMenu(
        [dbc.DropdownMenuItem("Blank job", href="/jobs/new"), dbc.DropdownMenuItem(divider=True),
         *[dbc.DropdownMenuItem([html.Div(t["name"]), html.Div(t["description"], className="small text-body-secondary")],
                                href=f"/jobs/new?template={t['id']}") for t in TEMPLATES]],
        label="Start from a template", size="sm", color="secondary", align_end=True, id=ids.template)
    return html.Div([
        create_page_header("New server-side job", templates,
                           subtitle="Chronos runs it on schedule: an HTTP request, a shell command or an email. "
                                    "Dry run first to see when it fires."),
        dbc.Row([
            dbc.Col([
                create_card("Definition", [
                    dbc.Row([
                        _field("Name", dbc.Input(id=ids.name, value=d.get("name", ""), size="sm", maxLength=300),
                               md=8),
                        _field("Id", dbc.Input(id=ids.job_id, size="sm", maxLength=120, placeholder="from the name"),
                               md=4),
                        _field("Schedule", dbc.Input(id=ids.schedule, value=d.get("schedule", ""), size="sm",
                                                     placeholder="*/5 * * * *"),
                               "Cron (5 fields, or 6 with seconds first) or @hourly, @daily…", md=6),
                        _field("Timezone", dbc.Input(id=ids.timezone, value=d.get("timezone", "UTC"), size="sm",
                                                     list="job-new-timezones"), md=6),
                        html.Datalist([html.Option(value=z) for z in TIMEZONES], id="job-new-timezones"),
                    ], className="g-2"),
                    html.Hr(className="my-2"),
                    dbc.Label("Type", className="small mb-1"),
                    dbc.RadioItems(id=ids.type, value=d.get("type", "http"), inline=True, className="mb-2",
                                   options=[{"label": "HTTP request", "value": "http"},
                                            {"label": "Shell command", "value": "shell"},
                                            {"label": "Email", "value": "email"}]),
                    *create_target_fields(d),
                    html.Hr(className="my-2"),
                    dbc.Row([
                        _field("Retry strategy", dbc.Select(id=ids.strategy, value=retry.get("strategy", "immediate"),
                                                            size="sm", options=["immediate", "linear", "exponential"]),
                               md=4),
                        _field("Max retries", dbc.Input(id=ids.max_retries, type="number", min=0, max=20, step=1,
                                                        value=retry.get("maxRetries", 0), size="sm"), md=4),
                        _field("Base delay (ms)", dbc.Input(id=ids.base_delay, type="number", min=0, step=100,
                                                            value=retry.get("baseDelayMs", 1000), size="sm"), md=4),
                    ], className="g-2"),
                    dbc.Checkbox(id=ids.paused, label="Create it paused", value=False, className="my-2"),
                    html.Div([
                        dbc.Button([html.I(className="bi bi-calendar-check me-1"), "Dry run"], id=ids.dry_run,
                                   size="sm", color="secondary", outline=True, className="me-2"),
                        dbc.Button([html.I(className="bi bi-plus-lg me-1"), "Create"], id=ids.create, size="sm",
                                   color="primary"),
                    ]),
                ]),
            ], lg=7),
            dbc.Col(create_card("Dry run and result", dcc.Loading(html.Div(
                html.P("Dry run shows the next 10 fire times in the job's timezone and checks the target, "
                       "without running anything.", className="text-body-secondary mb-0"), id=ids.result),
                type="dot", delay_show=400)), lg=5),
        ], className="g-3"),
    ])
