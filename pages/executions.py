"""Executions explorer: full-text search over errors with job, status and time filters.

The state lives in the URL's query string (``?q=…&job=…&status=failed,timeout&range=168&page=2``), so a
copied link reproduces the view.
"""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from pages._components import STATUS_OPTIONS, create_page_header
from pages._explorer import RANGE_OPTIONS, parse_state
from pages._ids import explorer as ids

dash.register_page(__name__, path="/executions", name="Executions", title="Executions · Chronos Synapse",
                   order=2)

def layout(q: str = "", job: str = "", status: str = "", range: str = "", page: str = "",  # noqa: A002
           **_unknown: object) -> html.Div:
    state = parse_state(q, job, status, range, page)
    return html.Div([
        dcc.Store(id=ids.sync),
        create_page_header("Executions", html.Span(id=ids.total, className="text-body-secondary small"),
                           subtitle="Search error messages, error types and job names. The address bar "
                                    "keeps the view: share the link."),
        dbc.Row([
            dbc.Col(dbc.Input(id=ids.q, value=state["q"], type="search", size="sm", debounce=0.3,
                              placeholder="Search errors, e.g. timeout refused"), md=4),
            dbc.Col(dbc.Input(id=ids.job, value=state["job"], size="sm", debounce=0.3,
                              placeholder="Job id"), md=2),
            dbc.Col(dcc.Dropdown(id=ids.status, value=state["status"], options=STATUS_OPTIONS, multi=True,
                                 placeholder="Any status", className="dash-dropdown-sm"), md=3),
            dbc.Col(dbc.Select(id=ids.range, value=state["range"], size="sm",
                               options=[{"label": label, "value": v} for v, label in RANGE_OPTIONS]), md=2),
        ], className="g-2 mb-3"),
        dbc.Card(dcc.Loading(html.Div(id=ids.table), delay_show=400, type="dot"), className="shadow-sm mb-3"),
        dbc.Pagination(id=ids.page, max_value=max(1, int(state["page"])), active_page=state["page"],
                       fully_expanded=False, previous_next=True, size="sm"),
    ])
