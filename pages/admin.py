"""Admin (admin role only): users (role, disable) and the system (memory, keys, indexes, ingest rate)."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from pages._components import create_card, create_graph, create_page_header
from pages._ids import admin as ids
from pages._ids import admin_sched

dash.register_page(__name__, path="/admin", name="Admin", title="Admin · Chronos Synapse", order=5,
                   admin_only=True)


def layout(**_unknown: object) -> html.Div:
    return html.Div([
        create_page_header("Admin", dbc.Button([html.I(className="bi bi-arrow-clockwise me-1"), "Refresh"],
                                               id=ids.refresh, size="sm", color="secondary", outline=True)),
        html.Div(id=ids.message),
        dbc.Row([
            dbc.Col(create_card("Users", dcc.Loading(html.Div(id=ids.users), type="dot", delay_show=400),
                                body_class="p-0"), lg=7),
            dbc.Col([
                create_card("System", html.Div(id=ids.system), className="mb-3"),
                create_card("Executions per minute (by finish time, all users)", create_graph(ids.rate_chart, 220)),
            ], lg=5),
        ], className="g-3"),
        dbc.Row(dbc.Col(create_card("Schedulers (heartbeats)", html.Div(id=admin_sched.nodes), body_class="p-0")),
                className="g-3 mt-0"),
    ])
