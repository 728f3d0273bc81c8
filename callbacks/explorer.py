"""Explorer callbacks: run the analytics query for the controls, chart it, keep the address bar, download.

``chronos.insights.query`` answers (``QuerySpec.from_args``, ``run``, ``to_csv``): the same calls as
``GET /api/analytics/query``, with the same parameters, which the page shows as a link.
"""
from __future__ import annotations

import json
from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, clientside_callback, ctx, dcc, html
from dash.exceptions import PreventUpdate
from flask import request

from callbacks.common import base_layout, empty_figure, owner, redis, settings
from chronos.insights import query
from chronos.insights.history import QueryTooLarge
from chronos.store import jobs as job_store
from chronos.timeutil import now_ms
from pages._ids import data_explorer as ids
from pages._query import CHARTS, METRIC_LABELS, api_params, api_path, parse_state, query_string

MAX_SERIES = 30
PERIODS = {"1w": 604_800_000, "1M": "M1"}
TABLE_ROWS = 200
PALETTE = ["#0d6efd", "#dc3545", "#198754", "#fd7e14", "#6f42c1", "#20c997", "#d63384", "#0dcaf0", "#6c757d",
           "#ffc107"]
CONTROLS = (("metric", ids.metric), ("field", ids.field), ("stat", ids.stat), ("groupBy", ids.group_by),
            ("bucket", ids.bucket), ("range", ids.range), ("from", ids.start), ("to", ids.end), ("jobId", ids.job),
            ("status", ids.status), ("app", ids.app), ("label", ids.label), ("host", ids.host), ("chart", ids.chart))


def series(rows: list[dict[str, Any]]) -> tuple[dict[str, tuple[list[str], list[Any]]], int]:
    """Rows as one (x, y) series per group, the largest ``MAX_SERIES`` groups; and how many were left out."""
    out: dict[str, tuple[list[str], list[Any]]] = {}
    for row in rows:
        xs, ys = out.setdefault(row["group"] or "(none)", ([], []))
        xs.append(row["bucket"])
        ys.append(row["value"])
    ranked = sorted(out, key=lambda g: (-sum(abs(v) for v in out[g][1] if v is not None), g))
    return {g: out[g] for g in sorted(ranked[:MAX_SERIES])}, max(0, len(ranked) - MAX_SERIES)


def figure(result: dict[str, Any], chart: str) -> dict[str, Any]:
    """The chart of a ``query.run`` result: line, bar, stacked, heatmap or box."""
    if not result["rows"]:
        return empty_figure("No runs match in this range")
    groups, _left_out = series(result["rows"])
    metric = result["metric"]
    yaxis: dict[str, Any] = {"title": {"text": "ms" if metric.startswith("duration") else ""}}
    if metric == "success_rate":
        yaxis["tickformat"] = ".0%"
    dated = {"type": "date"} if result["bucket"] != "all" else {"type": "category"}
    if chart == "heatmap":
        buckets = sorted({row["bucket"] for row in result["rows"]})
        names = list(groups)
        cell = {(row["group"] or "(none)", row["bucket"]): row["value"] for row in result["rows"]}
        return {"data": [{"type": "heatmap", "x": buckets, "y": names, "xgap": 1, "ygap": 1,
                          "z": [[cell.get((g, b)) for b in buckets] for g in names],
                          "colorscale": [[0, "rgba(13,110,253,0.06)"], [1, "#0d6efd"]]}],
                "layout": base_layout(hovermode="closest", xaxis=dated, yaxis={"type": "category"},
                                      margin={"l": 120})}
    if chart == "box":
        data = [{"type": "box", "name": g, "y": ys, "boxpoints": "outliers",
                 "marker": {"color": PALETTE[i % len(PALETTE)]}} for i, (g, (_xs, ys)) in enumerate(groups.items())]
        return {"data": data, "layout": base_layout(hovermode="closest", showlegend=False, yaxis=yaxis,
                                                    xaxis={"type": "category"})}
    kind = "scatter" if chart == "line" else "bar"
    period = PERIODS.get(result["bucket"]) or query.FIXED_BUCKETS.get(result["bucket"])
    data = []
    for i, (g, (xs, ys)) in enumerate(groups.items()):
        trace: dict[str, Any] = {"type": kind, "name": g, "x": xs, "y": ys}
        if period:  # a value covers its whole bucket: draw it in the middle of the bucket, not at its start
            trace.update(xperiod=period, xperiodalignment="middle")
        color = PALETTE[i % len(PALETTE)]
        if kind == "scatter":
            trace.update(mode="lines+markers", line={"color": color, "width": 2}, connectgaps=False)
        else:
            trace["marker"] = {"color": color}
        data.append(trace)
    return {"data": data, "layout": base_layout(barmode="stack" if chart == "stacked" else "group", xaxis=dated,
                                                yaxis=yaxis)}


def rows_table(rows: list[dict[str, Any]]) -> Any:
    if not rows:
        return html.P("No rows.", className="text-body-secondary m-3")
    body = [html.Tr([html.Td(r["bucket"], className="font-monospace small"), html.Td(r["group"] or "(none)"),
                     html.Td("" if r["value"] is None else f"{r['value']:,.6g}", className="text-end")],
                    className="dx-row") for r in rows[:TABLE_ROWS]]
    head = html.Thead(html.Tr([html.Th("bucket"), html.Th("group"), html.Th("value", className="text-end")]))
    return html.Div(dbc.Table([head, html.Tbody(body)], size="sm", className="mb-0", responsive=True),
                    style={"maxHeight": "24rem", "overflowY": "auto"})


def summary(result: dict[str, Any], state: dict[str, Any]) -> Any:
    groups, left_out = series(result["rows"])
    label = METRIC_LABELS.get(state["metric"], state["metric"])
    if state["metric"] == "metadata":
        label = f"metadata.{state['field']} ({state['stat']})"
    text = f"{label} · {len(result['rows']):,} row(s) · {len(groups)} series · {result['from']} → {result['to']}"
    notes = []
    if left_out:
        notes.append(f"{left_out} smaller series not drawn (all are in the downloads)")
    if result["truncated"]:
        notes.append("truncated at 10,000 rows: narrow the range or use a larger bucket")
    return [html.Span(text, id="dx-summary-text"), *[dbc.Badge(n, color="warning", text_color="dark",
                                                               className="ms-2 fw-normal") for n in notes]]


def api_view(params: dict[str, str]) -> Any:
    base = (settings().chronos_public_url or request.host_url).rstrip("/")
    path = api_path(params, "csv")
    return html.Div([
        html.P("With an API key that has the read scope:", className="small mb-1"),
        html.Pre(f'curl -H "x-api-key: $CHRONOS_API_KEY" "{base}{path}"', className="log-block mb-2",
                 id="dx-api-curl"),
        html.Div(["Path: ", html.Code(path, id="dx-api-path", className="text-break")], className="small"),
    ])


def run_state(state: dict[str, Any], now: int) -> tuple[dict[str, str], dict[str, Any]]:
    """(API parameters, result) for a state. Raises query.QueryError or QueryTooLarge."""
    if state["metric"] == "metadata" and not state["field"]:
        raise query.QueryError("type the name of a numeric metadata field (letters, digits, _)")
    params = api_params(state, now)
    return params, query.run(redis(), owner(), query.QuerySpec.from_args(params))


@callback(
    Output(ids.graph, "figure"),
    Output(ids.summary, "children"),
    Output(ids.table, "children"),
    Output(ids.api_link, "children"),
    Output(ids.error, "children"),
    Output(ids.sync, "data"),
    Output(ids.params, "data"),
    *[Input(cid, "value") for _, cid in CONTROLS],
)
def run_query(*values: Any):
    owner()
    state = parse_state(dict(zip([k for k, _ in CONTROLS], values, strict=True)))
    try:
        params, result = run_state(state, now_ms())
    except (query.QueryError, QueryTooLarge) as exc:
        alert = dbc.Alert(str(exc), color="warning", className="py-2", id="dx-error-text")
        return empty_figure("Nothing to draw"), None, None, None, alert, query_string(state), None
    return (figure(result, state["chart"] if state["chart"] in CHARTS else "line"), summary(result, state),
            rows_table(result["rows"]), api_view(params), None, query_string(state), params)


@callback(
    Output(ids.download, "data"),
    Input(ids.download_csv, "n_clicks"),
    Input(ids.download_json, "n_clicks"),
    State(ids.params, "data"),
    prevent_initial_call=True,
)
def download(_csv, _json, params: dict[str, str] | None):
    me = owner()
    if not params or not ctx.triggered or not ctx.triggered[0].get("value"):
        raise PreventUpdate
    try:
        spec = query.QuerySpec.from_args(params)
        result = query.run(redis(), me, spec)
    except (query.QueryError, QueryTooLarge):
        raise PreventUpdate from None
    name = f"chronos-{spec.metric.replace('.', '-')}-{spec.bucket}"
    if ctx.triggered_id == ids.download_csv:
        return dcc.send_string(query.to_csv(result), f"{name}.csv", type="text/csv")
    return dcc.send_string(json.dumps(result, indent=1), f"{name}.json", type="application/json")


@callback(
    Output(ids.job, "options"),
    Input(ids.job, "id"),
    State(ids.job, "value"),
)
def load_jobs(_id: str, current: str | None):
    page = job_store.search_jobs(redis(), job_store.JobQuery(owner=owner(), limit=500))
    options = [{"label": j.get("name") or j["id"], "value": j["id"]} for j in page.items]
    if current and current not in {o["value"] for o in options}:
        options.insert(0, {"label": current, "value": current})
    return options


# The metadata field and statistic only apply to metadata metrics, the dates only to a custom range.
clientside_callback(
    "function(m, r){ var md = m !== 'metadata', c = r !== 'custom'; return [md, md, c, c]; }",
    Output(ids.field, "disabled"),
    Output(ids.stat, "disabled"),
    Output(ids.start, "disabled"),
    Output(ids.end, "disabled"),
    Input(ids.metric, "value"),
    Input(ids.range, "value"),
)

# Keep the address bar in step without a navigation (replaceState leaves the page and its inputs alone).
clientside_callback(
    "function(qs){ if (typeof qs === 'string' && window.location.pathname === '/explorer'"
    " && window.location.search !== qs) { window.history.replaceState(window.history.state, '', '/explorer' + qs); }"
    " return window.dash_clientside.no_update; }",
    Output(ids.summary, "title"),
    Input(ids.sync, "data"),
)
