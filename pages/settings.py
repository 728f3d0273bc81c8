"""Settings: the signed-in user's API keys (create shows the key once, list, revoke, scopes) and the SDK
snippet filled in with this server's URL."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import html

from pages._components import create_card, create_page_header
from pages._ids import settings as ids

dash.register_page(__name__, path="/settings", name="Settings", title="Settings · Chronos Synapse", order=4)

SCOPE_OPTIONS = [{"label": "ingest (send runs)", "value": "ingest"},
                 {"label": "read (query the API, live stream)", "value": "read"},
                 {"label": "admin (manage keys, every owner)", "value": "admin"}]


def layout(**_unknown: object) -> html.Div:
    return html.Div([
        create_page_header("Settings", subtitle="API keys let the SDK and your scripts talk to this server."),
        dbc.Row([
            dbc.Col([
                create_card("Create an API key", [
                    dbc.Label("Name", html_for=ids.key_name),
                    dbc.Input(id=ids.key_name, placeholder="e.g. billing-worker", maxLength=100, className="mb-2"),
                    dbc.Label("Scopes"),
                    dbc.Checklist(id=ids.key_scopes, options=SCOPE_OPTIONS, value=["ingest", "read"],
                                  className="mb-3"),
                    dbc.Button("Create key", id=ids.create, color="primary", size="sm"),
                    html.Div(id=ids.created, className="mt-3"),
                ], className="mb-3"),
                html.Div(id=ids.message),
                create_card("Your API keys", html.Div(id=ids.keys), body_class="p-0"),
            ], lg=6),
            dbc.Col(create_card("Report runs from Python", html.Div(id=ids.snippet)), lg=6),
        ], className="g-3"),
    ])
