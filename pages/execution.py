"""Execution detail: status, times, error, logs (with download), code snippet, labels, metadata, host."""
from __future__ import annotations

from urllib.parse import unquote

import dash
from dash import dcc, html

from pages._ids import execution as ids


def title(exec_id: str = "", **_unknown: object) -> str:
    return f"{unquote(exec_id or '')} · Execution · Chronos Synapse"


dash.register_page(__name__, path_template="/executions/<exec_id>", name="Execution", title=title)


def layout(exec_id: str = "", **_unknown: object) -> html.Div:
    return html.Div([
        dcc.Store(id=ids.id, data=unquote(exec_id or "")),
        dcc.Download(id=ids.download),
        dcc.Loading(html.Div(id=ids.body), delay_show=400, type="dot"),
    ])
