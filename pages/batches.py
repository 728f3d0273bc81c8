"""NDJSON batches: the owner's batches with live progress, and one batch's latency histogram and failed records.

``/batches?batch=<id>`` selects a batch (the list links there), so a copied link opens the same batch.
"""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from pages._components import create_card, create_graph, create_page_header
from pages._ids import batches as ids

dash.register_page(__name__, path="/batches", name="Batches", title="Batches · Chronos Synapse", order=3.5)

STATE_OPTIONS = [{"label": "Any state", "value": "__any__"}, *[{"label": s.capitalize(), "value": s}
                                                              for s in ("queued", "running", "completed",
                                                                        "cancelled")]]


def layout(batch: str = "", **_unknown: object) -> html.Div:
    selected = batch if isinstance(batch, str) else ""
    return html.Div([
        dcc.Store(id=ids.selected, data=selected[:64]),
        dcc.Store(id=ids.changed, data=0),
        # Progress arrives as batch:progress events on the live stream; this interval covers a stream that is
        # down or an event missed while a batch is in flight (the callbacks switch it on and off).
        dcc.Interval(id=ids.tick, interval=2_000, disabled=True),
        create_page_header("Batches", html.Span(id=ids.total, className="text-body-secondary small"),
                           dbc.Select(id=ids.state, value="__any__", size="sm", options=STATE_OPTIONS),
                           subtitle="NDJSON batches sent to your endpoints by the batch runners "
                                    "(POST /api/batches)."),
        create_card("Your batches", dcc.Loading(html.Div(id=ids.list), type="dot", delay_show=600),
                    body_class="p-0", className="mb-3"),
        html.Div(id=ids.message),
        html.Div(id=ids.detail, className="mb-3"),
        dbc.Row([
            dbc.Col(create_card("Latency histogram (final attempt, time to the response)",
                                create_graph(ids.histogram, 280)), lg=5),
            dbc.Col(create_card(
                dbc.Row([
                    dbc.Col("Failed records", width="auto", className="me-auto"),
                    dbc.Col(dbc.Button([html.I(className="bi bi-arrow-repeat me-1"), "Retry failed"], id=ids.retry,
                                       size="sm", color="primary", outline=True, disabled=True), width="auto"),
                    dbc.Col(dbc.Button([html.I(className="bi bi-x-circle me-1"), "Cancel"], id=ids.cancel,
                                       size="sm", color="danger", outline=True, disabled=True), width="auto"),
                ], className="align-items-center g-2"),
                html.Div(id=ids.failed), body_class="p-0"), lg=7),
        ], className="g-3", id=ids.detail_row, style={} if selected else {"display": "none"}),
    ])
