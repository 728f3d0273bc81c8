"""Jobs: search, filters, sort and pages over every job, with last status, success rate and a sparkline."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from pages._components import ANY, STATUS_OPTIONS, create_page_header, create_pagination
from pages._ids import jobs as ids

dash.register_page(__name__, path="/jobs", name="Jobs", title="Jobs · Chronos Synapse", order=1)

SORT_OPTIONS = [
    {"label": "Name A–Z", "value": "name"}, {"label": "Name Z–A", "value": "-name"},
    {"label": "Last run (newest)", "value": "-lastRunAt"}, {"label": "Last run (oldest)", "value": "lastRunAt"},
    {"label": "Next run (soonest)", "value": "nextRunAt"}, {"label": "Most failing", "value": "failures"},
    {"label": "Newest", "value": "-createdAt"},
]


def _pick(value: object, allowed: list[str], default: str = "") -> str:
    return value if isinstance(value, str) and value in allowed else default


def _options(any_label: str, current: str) -> list[dict[str, str]]:
    return [{"label": any_label, "value": ANY}] + ([{"label": current, "value": current}] if current else [])


def layout(q: str = "", status: str = "", tag: str = "", app: str = "", sort: str = "name",
           **_unknown: object) -> html.Div:
    q = q if isinstance(q, str) else ""
    tag = tag if isinstance(tag, str) else ""
    app = app if isinstance(app, str) else ""
    # Tag and app options come from a callback; the value from the URL is offered until they arrive.
    return html.Div([
        create_page_header("Jobs", html.Span([
            html.Span(id=ids.total, className="text-body-secondary small me-3"),
            dcc.Link("New server-side job", href="/jobs/new", className="btn btn-outline-primary btn-sm"),
        ])),
        dbc.Row([
            dbc.Col(dbc.Input(id=ids.search, value=q[:200], placeholder="Search job names…", type="search",
                              debounce=0.3, size="sm"), md=4),
            dbc.Col(dbc.Select(id=ids.status, size="sm",
                               value=_pick(status, [o["value"] for o in STATUS_OPTIONS], ANY),
                               options=[{"label": "Any status", "value": ANY}, *STATUS_OPTIONS]), md=2),
            dbc.Col(dbc.Select(id=ids.tag, size="sm", value=tag or ANY, options=_options("Any tag", tag)), md=2),
            dbc.Col(dbc.Select(id=ids.app, size="sm", value=app or ANY, options=_options("Any app", app)), md=2),
            dbc.Col(dbc.Select(id=ids.sort, size="sm", options=SORT_OPTIONS,
                               value=_pick(sort, [o["value"] for o in SORT_OPTIONS], "name")), md=2),
        ], className="g-2 mb-3"),
        dbc.Card(dcc.Loading(html.Div(id=ids.table), delay_show=400, type="dot"), className="shadow-sm mb-3"),
        dbc.Row([
            dbc.Col(create_pagination(ids.page), width="auto"),
            dbc.Col(dbc.Select(id=ids.page_size, size="sm", value="25", options=[
                {"label": f"{n} per page", "value": str(n)} for n in (10, 25, 50, 100)]), width="auto"),
        ], className="g-2 align-items-center"),
    ])
