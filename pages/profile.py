"""Profile: who is signed in, and a password change."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import html

from pages._components import create_card, create_page_header
from pages._ids import profile as ids

dash.register_page(__name__, path="/profile", name="Profile", title="Profile · Chronos Synapse")


def layout(**_unknown: object) -> html.Div:
    return html.Div([
        create_page_header("Profile"),
        dbc.Row([
            dbc.Col(create_card("Account", html.Div(id=ids.info)), lg=5),
            dbc.Col(create_card("Change password", [
                dbc.Form([
                    dbc.Label("Current password", html_for=ids.current),
                    dbc.Input(id=ids.current, type="password", autoComplete="current-password", className="mb-2"),
                    dbc.Label("New password (8 characters or more)", html_for=ids.new),
                    dbc.Input(id=ids.new, type="password", autoComplete="new-password", className="mb-2"),
                    dbc.Label("Repeat the new password", html_for=ids.confirm),
                    dbc.Input(id=ids.confirm, type="password", autoComplete="new-password", className="mb-3"),
                    dbc.Button("Change password", id=ids.submit, color="primary", size="sm"),
                ]),
                html.Div(id=ids.message, className="mt-3"),
            ]), lg=5),
        ], className="g-3"),
    ])
