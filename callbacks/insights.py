"""Insights callbacks: anomalies, error groups and one group's detail, the load heatmap and a slot suggestion.

Each calls the function behind the matching ``/api/insights/*`` endpoint (docs/insights.md) for the signed-in
owner; nothing here writes.
"""
from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, callback, clientside_callback, ctx, dcc, html
from dash.exceptions import PreventUpdate

from callbacks.common import COLORS, base_layout, empty_figure, owner, redis, settings
from chronos.insights import anomalies, errors, schedule
from chronos.store import jobs as job_store
from chronos.timeutil import now_ms, parse_instant
from pages._components import create_empty_state, create_text_block
from pages._format import duration, exec_href, job_href, status_badge, time_ago, when
from pages._ids import insights as ids

HOUR_MS, DAY_MS = 3_600_000, 86_400_000
HEAT_DAYS = 28
KINDS = {"too_slow": ("Too slow", "warning"), "too_fast": ("Too fast", "info"),
         "duration_drift": ("Getting slower", "warning"), "failure_spike": ("Failure spike", "danger"),
         "failure_streak": ("Failure streak", "danger")}
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
HEAT_SCALES = {"runs": [[0, "rgba(13,110,253,0.06)"], [1, "#0d6efd"]],
               "failures": [[0, "rgba(220,53,69,0.06)"], [1, "#dc3545"]],
               "failureRate": [[0, "rgba(220,53,69,0.06)"], [1, "#dc3545"]],
               "busyMs": [[0, "rgba(111,66,193,0.06)"], [1, "#6f42c1"]]}


def window(choice: Any, now: int) -> tuple[int, int]:
    """(from, to) for the range select: the last 24, 168 or 720 hours (7 days otherwise)."""
    hours = int(choice) if choice in ("24", "168", "720") else 168
    return now - hours * HOUR_MS, now


def _ms(iso: Any) -> int | None:
    try:
        return parse_instant(iso) if iso else None
    except ValueError:
        return None


def anomalies_table(result: dict[str, Any], now: int) -> Any:
    items = result["items"]
    if not items:
        return html.Div(create_empty_state(
            "Nothing unusual", f"{result['jobsChecked']} job(s) with runs in this window were checked: no run was "
                               "unusually slow or fast, and no failure streak or spike."), className="p-3")
    rows = []
    for a in items:
        label, color = KINDS.get(a["kind"], (a["kind"], "secondary"))
        rows.append(html.Tr([
            html.Td(dbc.Badge(label, color=color, className="text-nowrap")),
            html.Td(dcc.Link(a.get("jobName") or a["jobId"], href=job_href(a["jobId"]))),
            html.Td(time_ago(_ms(a["at"]), now), title=when(_ms(a["at"])), className="text-nowrap small"),
            html.Td(a["reason"], className="small text-break"),
            html.Td(f"{a['score']:.1f}", className="text-end"),
            html.Td(dcc.Link("run", href=exec_href(a["execId"])) if a.get("execId") else "—"),
        ], className="anomaly-row"))
    head = html.Thead(html.Tr([html.Th(h) for h in ("Kind", "Job", "When", "Why", "Score", "")]))
    return dbc.Table([head, html.Tbody(rows)], hover=True, size="sm", className="mb-0 align-middle", responsive=True)


def errors_table(groups: list[dict[str, Any]], selected: str | None, now: int) -> Any:
    if not groups:
        return html.Div(create_empty_state("No errors", "No run failed or timed out in this window."),
                        className="p-3")
    rows = [html.Tr([
        html.Td([html.Div([g.get("message") or "(no message)",
                           dbc.Badge("new", color="danger", className="ms-2") if g.get("isNew") else None],
                          className="text-break"),
                 html.Div(g.get("errorType") or "", className="small font-monospace text-body-secondary")]),
        html.Td(f"{g['count']:,}", className="text-end"),
        html.Td(f"{g['jobCount']:,}", className="text-end"),
        html.Td(time_ago(_ms(g.get("lastSeen")), now), title=when(_ms(g.get("lastSeen"))),
                className="text-nowrap small"),
        html.Td(dbc.Button("Details", id=ids.pick(g["fingerprint"]), size="sm", color="link", className="p-0")),
    ], className="error-group-row" + (" table-active" if g["fingerprint"] == selected else ""),
        **{"data-fp": g["fingerprint"]}) for g in groups]
    head = html.Thead(html.Tr([html.Th(h, className=c) for h, c in (
        ("Error", ""), ("Runs", "text-end"), ("Jobs", "text-end"), ("Last seen", ""), ("", ""))]))
    return dbc.Table([head, html.Tbody(rows)], hover=True, size="sm", className="mb-0 align-middle", responsive=True)


def timeline_figure(timeline: dict[str, Any]) -> dict[str, Any]:
    points = timeline.get("points") or []
    if not points:
        return empty_figure("No runs in this window")
    return {"data": [{"type": "bar", "x": [p[0] for p in points], "y": [p[1] for p in points], "name": "runs",
                      "marker": {"color": COLORS["failed"]}}],
            "layout": base_layout(xaxis={"type": "date"}, showlegend=False, margin={"l": 32, "r": 8, "t": 4, "b": 28})}


def group_view(g: dict[str, Any], now: int) -> Any:
    sample = g.get("sample") or {}
    jobs = [html.Li([dcc.Link(j.get("jobName") or j["jobId"], href=job_href(j["jobId"])),
                     f" · {j['count']:,} run(s) · last {time_ago(_ms(j.get('lastSeen')), now)} · ",
                     dcc.Link("its failed runs", href=f"/executions?job={j['jobId']}&status=failed,timeout",
                              className="small")]) for j in g.get("jobs") or []]
    recent = [html.Li([status_badge(e.get("status")), " ",
                       dcc.Link(e["execId"], href=exec_href(e["execId"]), className="font-monospace small"),
                       html.Span(f" · {e.get('jobName') or e.get('jobId')} · {when(_ms(e.get('finishedAt')))}"
                                 f" · {duration(e.get('durationMs'))}", className="small text-body-secondary")])
              for e in (g.get("recent") or [])[:10]]
    return html.Div([
        html.H3(g.get("message") or "(no message)", className="h6 text-break", id="insights-group-title"),
        html.Div([html.Code(g.get("errorType") or "—"), html.Span(
            f" · {g['count']:,} run(s) in the window · first seen {when(_ms(g.get('firstSeen')))}",
            className="small text-body-secondary")], className="mb-2"),
        dcc.Graph(figure=timeline_figure(g.get("timeline") or {}), config={"displayModeBar": False},
                  style={"height": "140px"}),
        html.Div("Jobs", className="fw-semibold mt-2"),
        html.Ul(jobs, className="small mb-2", id="insights-group-jobs") if jobs else
        html.P("No job in this window.", className="small text-body-secondary"),
        html.Div("Newest message and stack", className="fw-semibold"),
        create_text_block("\n\n".join(x for x in (sample.get("errorMessage"), sample.get("errorStack")) if x),
                          id_="insights-group-stack"),
        html.Div("Newest runs", className="fw-semibold mt-2"),
        html.Ul(recent, className="list-unstyled mb-2", id="insights-group-recent"),
        dcc.Link("Failures per error group over time, in the Explorer", className="small",
                 href="/explorer?metric=failures&groupBy=errorGroup&bucket=1d&range=30d&chart=stacked"),
    ])


def heatmap_figure(hm: dict[str, Any], metric: str) -> dict[str, Any]:
    grid = hm["all"].get(metric) or hm["all"]["runs"]
    if not any(v for row in grid for v in row if v):
        return empty_figure("No runs in the last 28 days")
    if metric == "busyMs":
        z = [[round((v or 0) / 60_000, 1) for v in row] for row in grid]
        unit = "min busy"
    elif metric == "failureRate":
        z = [[None if v is None else round(100 * v, 1) for v in row] for row in grid]
        unit = "% failed"
    else:
        z, unit = grid, metric
    return {"data": [{"type": "heatmap", "z": z, "x": [f"{h:02d}" for h in hm["hours"]], "y": hm["weekdays"],
                      "colorscale": HEAT_SCALES.get(metric, HEAT_SCALES["runs"]), "xgap": 2, "ygap": 2,
                      "hovertemplate": f"%{{y}} %{{x}}:00 · %{{z}} {unit}<extra></extra>", "showscale": False}],
            "layout": base_layout(hovermode="closest", xaxis={"type": "category", "title": {"text": f"hour ({hm['tz']})"}},
                                  yaxis={"autorange": "reversed", "type": "category"})}


def slot_view(s: dict[str, Any]) -> Any:
    if not s.get("applicable"):
        return dbc.Alert(s.get("reason") or "No suggestion for this job.", color="secondary", className="py-2 mb-0",
                         id="insights-slot-result")
    current = html.Code(s.get("schedule") or "no schedule")
    suggested = html.Code(s["suggestedSchedule"], id="insights-slot-schedule")
    alternatives = [html.Li(f"{a['hour']:02d}:00 · {a['otherRuns']} other runs · failure rate "
                            f"{100 * a['failureRate']:.0f}%") for a in s.get("alternatives") or []]
    return html.Div([
        html.Div(["Current ", current, " → suggested ", suggested] if s.get("changed") else
                 ["Keep ", current, ": it is already the quietest slot."], className="mb-2"),
        html.P(s["reason"], className="small text-body-secondary"),
        html.Div([html.Div("Quietest hours", className="fw-semibold small"),
                  html.Ul(alternatives, className="small mb-0")]) if alternatives else None,
    ], id="insights-slot-result")


@callback(
    Output(ids.anomalies, "children"),
    Input(ids.range, "value"),
)
def refresh_anomalies(rng: Any):
    me, now = owner(), now_ms()
    frm, to = window(rng, now)
    return anomalies_table(anomalies.find_anomalies(redis(), settings(), me, from_ms=frm, to_ms=to), now)


@callback(
    Output(ids.errors, "children"),
    Input(ids.range, "value"),
    Input(ids.group, "data"),
)
def refresh_errors(rng: Any, selected: str | None):
    me, now = owner(), now_ms()
    frm, to = window(rng, now)
    return errors_table(errors.error_groups(redis(), me, from_ms=frm, to_ms=to, limit=50), selected, now)


@callback(
    Output(ids.group, "data"),
    Input(ids.pick(ALL), "n_clicks"),
    prevent_initial_call=True,
)
def pick_group(_clicks):
    owner()
    if not isinstance(ctx.triggered_id, dict) or not ctx.triggered or not ctx.triggered[0].get("value"):
        raise PreventUpdate  # the table was redrawn; nothing was clicked
    return ctx.triggered_id["fp"]


@callback(
    Output(ids.group_detail, "children"),
    Input(ids.group, "data"),
    Input(ids.range, "value"),
)
def refresh_group(fp: str | None, rng: Any):
    me, now = owner(), now_ms()
    if not fp:
        raise PreventUpdate
    frm, to = window(rng, now)
    group = errors.error_group(redis(), me, fp, from_ms=frm, to_ms=to, limit=20)
    if group is None:
        return html.P("No such error group in your account.", className="text-body-secondary")
    return group_view(group, now)


# Keep the address bar in step (range and picked group) without a navigation.
clientside_callback(
    "function(rng, fp){ if (window.location.pathname === '/insights') { var p = new URLSearchParams();"
    " if (rng && rng !== '168') { p.set('range', rng); } if (fp) { p.set('group', fp); }"
    " var qs = p.toString() ? '?' + p.toString() : ''; if (window.location.search !== qs) {"
    " window.history.replaceState(window.history.state, '', '/insights' + qs); } }"
    " return window.dash_clientside.no_update; }",
    Output(ids.group_detail, "title"),
    Input(ids.range, "value"),
    Input(ids.group, "data"),
)


@callback(
    Output(ids.heatmap, "figure"),
    Input(ids.tz, "value"),
    Input(ids.heat_metric, "value"),
)
def refresh_heatmap(tz: str | None, metric: str | None):
    me, now = owner(), now_ms()
    try:
        hm = schedule.heatmap(redis(), me, from_ms=now - HEAT_DAYS * DAY_MS, to_ms=now, tz=tz or None)
    except ValueError:
        hm = schedule.heatmap(redis(), me, from_ms=now - HEAT_DAYS * DAY_MS, to_ms=now)
    return heatmap_figure(hm, metric if metric in HEAT_SCALES else "runs")


@callback(
    Output(ids.slot_job, "options"),
    Input(ids.slot_job, "id"),
)
def load_slot_jobs(_id: str):
    page = job_store.search_jobs(redis(), job_store.JobQuery(owner=owner(), limit=500))
    return [{"label": f"{j.get('name') or j['id']} ({j['schedule']})", "value": j["id"]}
            for j in page.items if j.get("schedule")]


@callback(
    Output(ids.slot, "children"),
    Input(ids.slot_job, "value"),
)
def refresh_slot(job_id: str | None):
    me, now = owner(), now_ms()
    if not job_id:
        return html.P("The suggestion weighs other jobs' runs and failure rates per hour, in the job's timezone.",
                      className="small text-body-secondary mb-0")
    job = job_store.get(redis(), me, job_id)
    if job is None:
        return html.P("No such job.", className="text-body-secondary")
    return slot_view(schedule.suggest_slot(redis(), me, job, from_ms=now - HEAT_DAYS * DAY_MS, to_ms=now))
