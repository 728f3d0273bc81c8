"""Analytics: success/failed stacked bars with the total line per day/week/month, duration distribution
per job, and the hour x weekday heatmap of runs and failures."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from pages._components import create_card, create_graph, create_page_header
from pages._ids import analytics as ids

dash.register_page(__name__, path="/analytics", name="Analytics", title="Analytics · Chronos Synapse", order=3)

RANGE_OPTIONS = [("7", "Last 7 days"), ("30", "Last 30 days"), ("90", "Last 90 days"), ("180", "Last 6 months"),
                 ("365", "Last year"), ("custom", "Custom dates")]
PERIOD_OPTIONS = [("day", "Per day"), ("week", "Per week"), ("month", "Per month")]


def layout(**_unknown: object) -> html.Div:
    return html.Div([
        create_page_header(
            "Analytics",
            html.Div(dbc.RadioItems(id=ids.period, value="day", className="btn-group",
                                    inputClassName="btn-check", labelClassName="btn btn-sm btn-outline-primary",
                                    labelCheckedClassName="active",
                                    options=[{"label": label, "value": v} for v, label in PERIOD_OPTIONS]),
                     className="radio-group"),
            dbc.Select(id=ids.range, value="30", size="sm",
                       options=[{"label": label, "value": v} for v, label in RANGE_OPTIONS]),
            dbc.InputGroup([dbc.Input(id=ids.start, type="date", disabled=True, placeholder="from"),
                            dbc.InputGroupText("→"),
                            dbc.Input(id=ids.end, type="date", disabled=True, placeholder="to")],
                           size="sm"),
            subtitle="All times in UTC; weeks start on Monday.",
        ),
        create_card([html.Span("Executions"), html.Span(id=ids.totals, className="ms-2 text-body-secondary small")],
                    create_graph(ids.runs_chart, 340), className="mb-3"),
        dbc.Row([
            dbc.Col(create_card(
                dbc.Row([dbc.Col("Duration distribution per job", className="me-auto", width="auto"),
                         dbc.Col(dcc.Dropdown(id=ids.jobs, multi=True, placeholder="Busiest jobs",
                                              style={"minWidth": "260px"}), width="auto")],
                        className="align-items-center g-2"),
                create_graph(ids.distribution, 360)), lg=6),
            dbc.Col(create_card(
                dbc.Row([dbc.Col("Hour × weekday (UTC)", className="me-auto", width="auto"),
                         dbc.Col(dbc.Select(id=ids.heatmap_metric, value="runs", size="sm", options=[
                             {"label": "Runs", "value": "runs"}, {"label": "Failures", "value": "failures"},
                             {"label": "Failure rate", "value": "rate"}]), width="auto")],
                        className="align-items-center g-2"),
                create_graph(ids.heatmap, 360)), lg=6),
        ], className="g-3"),
    ])
