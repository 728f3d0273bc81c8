"""Explorer for data teams: one metric per time bucket and group, charted, with CSV / JSON downloads.

The state lives in the address bar (``/explorer?metric=duration_p95&groupBy=job&bucket=1d&range=7d``), so a link
reproduces the chart. The numbers come from ``chronos.insights.query``, the function behind
``GET /api/analytics/query``: the CSV downloaded here is what that endpoint answers for the same parameters.
"""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from chronos.insights.query import STATS
from chronos.telemetry import STATUSES
from pages._components import create_card, create_graph, create_page_header
from pages._ids import data_explorer as ids
from pages._query import BUCKET_LABELS, CHARTS, GROUP_LABELS, METRIC_LABELS, RANGE_LABELS, parse_state

dash.register_page(__name__, path="/explorer", name="Explorer", title="Explorer · Chronos Synapse", order=3.4)


def _options(labels: dict[str, str]) -> list[dict[str, str]]:
    return [{"label": label, "value": value} for value, label in labels.items()]


def _control(label: str, control: object, **col: object) -> dbc.Col:
    return dbc.Col([dbc.Label(label, className="small mb-1"), control], **col)


def layout(**query: object) -> html.Div:
    s = parse_state(query)
    custom = s["range"] == "custom"
    return html.Div([
        dcc.Store(id=ids.sync),
        dcc.Store(id=ids.params),
        dcc.Download(id=ids.download),
        create_page_header(
            "Explorer",
            dbc.Button([html.I(className="bi bi-filetype-csv me-1"), "CSV"], id=ids.download_csv, size="sm",
                       color="secondary", outline=True),
            dbc.Button([html.I(className="bi bi-filetype-json me-1"), "JSON"], id=ids.download_json, size="sm",
                       color="secondary", outline=True),
            subtitle="One metric per time bucket and group. The address bar keeps the chart: share the link."),
        dbc.Card(dbc.CardBody([
            dbc.Row([
                _control("Metric", dbc.Select(id=ids.metric, value=s["metric"], size="sm",
                                              options=_options(METRIC_LABELS)), md=3),
                _control("Metadata field", dbc.Input(id=ids.field, value=s["field"], size="sm", debounce=0.4,
                                                     placeholder="e.g. rows", disabled=s["metric"] != "metadata"),
                         md=2),
                _control("Statistic", dbc.Select(id=ids.stat, value=s["stat"], size="sm",
                                                 disabled=s["metric"] != "metadata",
                                                 options=[{"label": k, "value": k} for k in STATS]), md=1),
                _control("Group by", dbc.Select(id=ids.group_by, value=s["groupBy"], size="sm",
                                                options=_options(GROUP_LABELS)), md=2),
                _control("Bucket", dbc.Select(id=ids.bucket, value=s["bucket"], size="sm",
                                              options=_options(BUCKET_LABELS)), md=2),
                _control("Range", dbc.Select(id=ids.range, value=s["range"], size="sm",
                                             options=_options(RANGE_LABELS)), md=2),
            ], className="g-2 mb-2"),
            dbc.Row([
                _control("From (UTC)", dbc.Input(id=ids.start, type="date", value=s["from"], size="sm",
                                                 disabled=not custom), md=2),
                _control("To (UTC)", dbc.Input(id=ids.end, type="date", value=s["to"], size="sm",
                                               disabled=not custom), md=2),
                _control("Job id", dcc.Dropdown(id=ids.job, value=s["jobId"] or None, placeholder="Any job",
                                                className="dash-dropdown-sm"), md=2),
                _control("Status", dcc.Dropdown(id=ids.status, value=s["status"], multi=True,
                                                placeholder="Every final status", className="dash-dropdown-sm",
                                                options=[{"label": x, "value": x} for x in STATUSES]), md=2),
                _control("App", dbc.Input(id=ids.app, value=s["app"], size="sm", debounce=0.4), md=1),
                _control("Label", dbc.Input(id=ids.label, value=s["label"], size="sm", debounce=0.4,
                                            placeholder="key:value"), md=2),
                _control("Host", dbc.Input(id=ids.host, value=s["host"], size="sm", debounce=0.4), md=1),
            ], className="g-2 mb-2"),
            dbc.RadioItems(id=ids.chart, value=s["chart"], options=_options(CHARTS), inline=True,
                           className="radio-group", inputClassName="btn-check",
                           labelClassName="btn btn-outline-secondary btn-sm", labelCheckedClassName="active"),
        ]), className="shadow-sm mb-3"),
        html.Div(id=ids.error),
        create_card(html.Div(id=ids.summary), dcc.Loading(create_graph(ids.graph, 380), type="dot", delay_show=400),
                    className="mb-3"),
        dbc.Row([
            dbc.Col(create_card("Rows (first 200)", html.Div(id=ids.table), body_class="p-0"), lg=7),
            dbc.Col(create_card("The same query over the API", html.Div(id=ids.api_link)), lg=5),
        ], className="g-3"),
    ])
