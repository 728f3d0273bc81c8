"""Overview: KPIs, runs per hour, failing jobs and a live feed of recent executions."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import html

from pages._components import create_card, create_graph, create_page_header, create_range_select
from pages._ids import overview as ids

dash.register_page(__name__, path="/", name="Overview", title="Overview · Chronos Synapse", order=0)


def layout(**_unknown: object) -> html.Div:
    return html.Div([
        create_page_header("Overview", create_range_select(ids.range, "24", [
            ("24", "Last 24 hours"), ("168", "Last 7 days"), ("720", "Last 30 days")])),
        dbc.Row(id=ids.kpis, className="g-3 mb-3"),
        dbc.Row([
            dbc.Col(create_card("Runs", create_graph(ids.runs_chart)), lg=8),
            dbc.Col(create_card("Failing jobs", html.Div(id=ids.failing), body_class="p-0"), lg=4),
        ], className="g-3 mb-3"),
        create_card([html.Span("Recent executions"),
                     html.Span(" · updates live", className="text-body-secondary small")],
                    html.Div(id=ids.feed), body_class="p-0"),
    ])
