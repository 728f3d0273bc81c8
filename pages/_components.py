"""Layout builders shared by the pages. No callbacks and no Redis here."""
from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from pages._ids import shell


def create_navbar() -> dbc.Navbar:
    links = [
        dbc.NavItem(dbc.NavLink(page["name"], href=page["relative_path"], active="exact"))
        for page in dash.page_registry.values()
        if page.get("order") is not None and not page.get("hidden")
    ]
    return dbc.Navbar(
        dbc.Container([
            dbc.NavbarBrand([html.I(className="bi bi-clock-history me-2"), "Chronos Synapse"], href="/"),
            dbc.Nav(links, navbar=True, className="me-auto"),
            html.Span([html.Span("●", className="me-1"), html.Span("connecting", id=shell.live_status)],
                      id=shell.live_status + "-wrap", className="small text-body-secondary me-3",
                      title="live: events arrive over the stream; polling: the stream is down and the page refreshes"),
            dbc.Button(html.I(className="bi bi-circle-half"), id=shell.theme_toggle, color="link",
                       className="me-2", title="Switch light / dark theme"),
            html.A("Sign out", href="/logout", className="btn btn-outline-secondary btn-sm"),
        ], fluid=True),
        className="border-bottom mb-3 bg-body",
    )


def create_shell() -> html.Div:
    """The app layout: navbar, the page, and the stores the live updates feed."""
    return html.Div([
        dcc.Location(id=shell.url, refresh="callback-nav"),
        dcc.Store(id=shell.theme, storage_type="local", data="light"),
        dcc.Store(id=shell.live_event, data=None),
        dcc.Interval(id=shell.poll, interval=15_000),
        create_navbar(),
        dbc.Container(dash.page_container, fluid=True, className="pb-5"),
    ])


def create_kpi(label: str, value: Any, hint: str = "", *, id_: str | None = None) -> dbc.Card:
    body = [html.Div(label, className="text-body-secondary small text-uppercase"),
            html.Div(value, className="fs-3 fw-semibold")]
    if hint:
        body.append(html.Div(hint, className="small text-body-secondary"))
    return dbc.Card(dbc.CardBody(body), className="h-100 shadow-sm", id=id_ or f"kpi-{label.lower().replace(' ', '-')}")


def create_empty_state(title: str, text: str) -> html.Div:
    return html.Div([html.H5(title), html.P(text, className="text-body-secondary")],
                    className="text-center p-5 border rounded-3 bg-body-tertiary")
