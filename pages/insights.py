"""Insights: anomalies, error groups (with one group's detail), the hour x weekday load heatmap and a quieter
slot for a job. The same functions answer ``/api/insights/*`` (docs/insights.md).

``/insights?range=168&group=<fingerprint>`` opens a window and a group's detail, so a link reproduces the view.
"""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from pages._components import create_card, create_graph, create_page_header
from pages._ids import insights as ids

dash.register_page(__name__, path="/insights", name="Insights", title="Insights · Chronos Synapse", order=3.2)

RANGE_OPTIONS = [("24", "Last 24 hours"), ("168", "Last 7 days"), ("720", "Last 30 days")]
HEAT_METRICS = [{"label": "Runs", "value": "runs"}, {"label": "Failures", "value": "failures"},
                {"label": "Failure rate", "value": "failureRate"}, {"label": "Busy time", "value": "busyMs"}]
ZONES = ["UTC", "Europe/London", "Europe/Berlin", "America/New_York", "America/Chicago", "America/Los_Angeles",
         "Asia/Kolkata", "Asia/Tokyo", "Australia/Sydney"]


def layout(range: str = "", group: str = "", **_unknown: object) -> html.Div:  # noqa: A002
    rng = range if isinstance(range, str) and range in dict(RANGE_OPTIONS) else "168"
    fp = group if isinstance(group, str) and len(group) <= 64 else ""
    return html.Div([
        dcc.Store(id=ids.group, data=fp),
        create_page_header("Insights", dbc.Select(id=ids.range, value=rng, size="sm",
                                                  options=[{"label": label, "value": v} for v, label in RANGE_OPTIONS]),
                           subtitle="What stands out in your runs: unusual durations and failure bursts, errors "
                                    "grouped by cause, and when your jobs crowd together."),
        dbc.Row([
            dbc.Col(create_card("Anomalies", dcc.Loading(html.Div(id=ids.anomalies), type="dot", delay_show=400),
                                body_class="p-0"), lg=12),
        ], className="g-3 mb-3"),
        dbc.Row([
            dbc.Col(create_card("Error groups (failed and timed-out runs whose errors differ only in details)",
                                dcc.Loading(html.Div(id=ids.errors), type="dot", delay_show=400), body_class="p-0"),
                    lg=7),
            dbc.Col(create_card("Group detail", html.Div(
                html.P("Pick a group to see its jobs, timeline and newest stack.", className="text-body-secondary"),
                id=ids.group_detail)), lg=5),
        ], className="g-3 mb-3"),
        dbc.Row([
            dbc.Col(create_card(
                dbc.Row([
                    dbc.Col("Load by hour and weekday (last 28 days, all jobs)", className="me-auto"),
                    dbc.Col(dbc.Select(id=ids.heat_metric, value="runs", size="sm", options=HEAT_METRICS),
                            width="auto"),
                    dbc.Col(dbc.Select(id=ids.tz, value="UTC", size="sm",
                                       options=[{"label": z, "value": z} for z in ZONES]), width="auto"),
                ], className="align-items-center g-2"),
                create_graph(ids.heatmap, 300)), lg=7),
            dbc.Col(create_card("A quieter slot for a job", [
                dcc.Dropdown(id=ids.slot_job, placeholder="Pick a job with a schedule", className="mb-3"),
                html.Div(id=ids.slot),
            ]), lg=5),
        ], className="g-3"),
    ])
