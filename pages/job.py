"""Job detail: schedule, state, versions, duration over time, runs per bucket and the job's executions."""
from __future__ import annotations

from urllib.parse import unquote

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from pages._components import (ANY, STATUS_OPTIONS, create_card, create_graph, create_pagination,
                               create_range_select)
from pages._ids import job as ids


def title(job_id: str = "", **_unknown: object) -> str:
    return f"{unquote(job_id or '')} · Jobs · Chronos Synapse"


dash.register_page(__name__, path_template="/jobs/<job_id>", name="Job", title=title)


def layout(job_id: str = "", **_unknown: object) -> html.Div:
    job_id = unquote(job_id or "")
    return html.Div([
        dcc.Store(id=ids.id, data=job_id),
        html.Div(id=ids.header, className="mb-3"),
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
