"""Job detail: schedule, state, versions, duration over time, runs per bucket and the job's executions."""
from __future__ import annotations

from urllib.parse import unquote

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from pages._components import (ANY, STATUS_OPTIONS, create_card, create_graph, create_pagination,
                               create_range_select)
from pages._ids import job as ids
from pages._ids import job_ops


def title(job_id: str = "", **_unknown: object) -> str:
    return f"{unquote(job_id or '')} · Jobs · Chronos Synapse"


dash.register_page(__name__, path_template="/jobs/<job_id>", name="Job", title=title)


def layout(job_id: str = "", **_unknown: object) -> html.Div:
    job_id = unquote(job_id or "")
    return html.Div([
        dcc.Store(id=ids.id, data=job_id),
        html.Div(id=ids.header, className="mb-3"),
        create_job_controls(),
        dbc.Row([
            dbc.Col(create_card("Definition", html.Div(id=ids.info)), lg=5),
            dbc.Col([
                dbc.Row(id=ids.kpis, className="g-3 mb-3"),
                create_card("Versions", html.Div(id=ids.versions), body_class="p-0"),
            ], lg=7),
        ], className="g-3 mb-3"),
        dbc.Row([
            dbc.Col(html.H3("Activity", className="h5 mb-0"), width="auto", className="me-auto"),
            dbc.Col(create_range_select(ids.range, "24", [("24", "Last 24 hours"), ("168", "Last 7 days"),
                                                          ("720", "Last 30 days")]), width="auto"),
        ], className="align-items-center g-2 mb-2"),
        dbc.Row([
            dbc.Col(create_card("Duration (p50 / p95 / max per bucket, failures marked)",
                                create_graph(ids.duration_chart, 300)), lg=6),
            dbc.Col(create_card("Runs (success / failed, total line)", create_graph(ids.runs_chart, 300)), lg=6),
        ], className="g-3 mb-3"),
        dbc.Row([
            dbc.Col(create_card("Monitoring state changes", html.Div(id=job_ops.flips), body_class="p-0"), lg=6),
            dbc.Col(create_card("Alerts sent for this job", html.Div(id=job_ops.alerts), body_class="p-0"), lg=6),
        ], className="g-3 mb-3"),
        create_card(
            dbc.Row([
                dbc.Col("Executions", width="auto", className="me-auto"),
                dbc.Col(dbc.Select(id=ids.status, size="sm", value=ANY,
                                   options=[{"label": "Any status", "value": ANY}, *STATUS_OPTIONS]), width="auto"),
            ], className="align-items-center g-2"),
            [html.Div(id=ids.table), html.Div(create_pagination(ids.page), className="p-2")],
            body_class="p-0",
        ),
    ])


def create_job_controls() -> html.Div:
    """Pause / resume and run-now for server-side jobs (hidden for jobs the SDK runs; shown by a callback)."""
    return html.Div([
        dcc.Store(id=job_ops.changed, data=0),
        html.Div([
            dbc.Button([html.I(className="bi bi-pause-fill me-1"), "Pause"], id=job_ops.pause, size="sm",
                       color="secondary", outline=True, className="me-2", style={"display": "none"}),
            dbc.Button([html.I(className="bi bi-play-fill me-1"), "Resume"], id=job_ops.resume, size="sm",
                       color="success", outline=True, className="me-2", style={"display": "none"}),
            dbc.Button([html.I(className="bi bi-lightning-charge me-1"), "Run now"], id=job_ops.run_now, size="sm",
                       color="primary", outline=True),
            html.Span("Server-side job: a scheduler runs it.", className="small text-body-secondary ms-3"),
        ], id=job_ops.controls, className="mb-2", hidden=True),
        html.Div(id=job_ops.message),
    ])
