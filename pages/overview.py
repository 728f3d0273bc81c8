"""Overview: KPIs, runs per hour, failing jobs and a live feed."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from pages._ids import overview as ids

dash.register_page(__name__, path="/", name="Overview", title="Overview · Chronos Synapse", order=0)


def layout(**_unknown: object) -> html.Div:
    return html.Div([
        dbc.Row([
            dbc.Col(html.H2("Overview", className="h4 mb-0"), width="auto"),
            dbc.Col(dbc.Select(id=ids.range, value="24", options=[
                {"label": "Last 24 hours", "value": "24"}, {"label": "Last 7 days", "value": "168"},
                {"label": "Last 30 days", "value": "720"}], size="sm"), width="auto"),
        ], className="align-items-center g-2 mb-3"),
        dbc.Row(id=ids.kpis, className="g-3 mb-3"),
        dbc.Row([
            dbc.Col(dbc.Card([dbc.CardHeader("Runs per hour"), dbc.CardBody(
                dcc.Graph(id=ids.runs_chart, config={"displaylogo": False}, style={"height": "320px"}))]), lg=8),
            dbc.Col(dbc.Card([dbc.CardHeader("Failing jobs"), dbc.CardBody(id=ids.failing)]), lg=4),
        ], className="g-3 mb-3"),
        dbc.Card([dbc.CardHeader("Recent executions"), dbc.CardBody(id=ids.feed, className="p-0")]),
    ])
