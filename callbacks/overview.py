"""Overview callbacks: thin adapters over chronos.analytics, the stores and chronos.dashboard."""
from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, callback, dcc, html

from callbacks.common import COLORS, base_layout, empty_figure, owner, redis, settings
from chronos import dashboard
from chronos.store import executions as exec_store
from chronos.store import jobs as job_store
from chronos.store import metrics
from chronos.timeutil import now_ms
from pages._components import create_empty_state, create_kpi
from pages._format import duration, exec_href, job_href, status_badge, time_ago, when
from pages._ids import overview as ids
from pages._ids import shell


def kpi_cards(s: dict[str, Any], late: int = 0) -> list[dbc.Col]:
    rate = "—" if s["successRate"] is None else f"{s['successRate'] * 100:.1f}%"
    cards = [
        create_kpi("Jobs", f"{s['jobs']:,}", f"{s['activeJobs']:,} ran in range"),
        create_kpi("Runs", f"{s['runs']:,}", f"{s['failures']:,} failed"),
        create_kpi("Success rate", rate, "of finished runs"),
        create_kpi("p95 duration", duration(s["p95DurationMs"]), f"p50 {duration(s['p50DurationMs'])}"),
        create_kpi("Failing jobs", f"{s['failingJobs']:,}", "last run failed"),
        create_kpi("Late / missed", f"{late:,}", "jobs behind schedule"),
    ]
    return [dbc.Col(c, xs=6, md=4, xl=2) for c in cards]


def runs_figure(series: dict[str, Any], runs: dict[str, Any]) -> dict[str, Any]:
    by_name = {s["name"]: s["points"] for s in series["series"]}
    ok, bad = by_name.get("success", []), by_name.get("failed", [])
    total = runs["series"][0]["points"] if runs.get("series") else []
    if not any(p[1] for p in total):
        return empty_figure("No runs in this range yet")
    xs = [p[0] for p in ok]
    return {
        "data": [
            {"type": "bar", "name": "Success", "x": xs, "y": [p[1] for p in ok],
             "marker": {"color": COLORS["success"]}},
            {"type": "bar", "name": "Failed", "x": xs, "y": [p[1] for p in bad], "marker": {"color": COLORS["failed"]}},
            {"type": "scatter", "mode": "lines", "name": "Total", "x": [p[0] for p in total],
             "y": [p[1] for p in total], "line": {"color": COLORS["total"], "width": 2}},
        ],
        "layout": base_layout(barmode="stack", xaxis={"type": "date"}),
    }


def failing_list(jobs: list[dict[str, Any]]) -> Any:
    if not jobs:
        return html.P([html.I(className="bi bi-check-circle text-success me-2"), "No job is failing right now."],
                      className="text-body-secondary m-3")
    return dbc.ListGroup([
        dbc.ListGroupItem([
            html.Div([dcc.Link(j.get("name") or j["id"], href=job_href(j["id"]), className="fw-semibold"),
                      dbc.Badge(f"{j.get('consecutiveFailures', 0)}× failed", color="danger", className="ms-2")]),
            html.Div((j.get("lastError") or "")[:140], className="small text-body-secondary text-truncate"),
        ]) for j in jobs
    ], flush=True)


def feed_table(items: list[dict[str, Any]], now: int | None = None) -> Any:
    if not items:
        return html.Div(create_empty_state(
            "No executions yet",
            "Report a run with the SDK or the API: Settings has a ready-to-paste snippet with your key.",
            action=dcc.Link("Open Settings", href="/settings", className="btn btn-primary btn-sm")),
            className="p-3")
    rows = [
        html.Tr([
            html.Td(dcc.Link(e.get("jobName") or e["jobId"], href=job_href(e["jobId"]))),
            html.Td(dcc.Link(status_badge(e.get("status")), href=exec_href(e["execId"]))),
            html.Td(duration(e.get("durationMs"))),
            html.Td(time_ago(e.get("finishedAt") or e.get("startedAt"), now),
                    title=when(e.get("finishedAt") or e.get("startedAt"))),
            html.Td((e.get("errorMessage") or "")[:120], className="text-body-secondary small text-break"),
        ], className="feed-row", **{"data-exec": e["execId"]})
        for e in items
    ]
    head = html.Thead(html.Tr([html.Th(h) for h in ("Job", "Status", "Duration", "When", "Error")]))
    return dbc.Table([head, html.Tbody(rows)], hover=True, size="sm", className="mb-0 align-middle",
                     responsive=True)


def overview_data(r: Any, s: Any, me: str, hours: int, now: int) -> dict[str, Any]:
    frm = now - hours * 3_600_000
    bucket = "1h" if hours <= 168 else "1d"
    return {
        "summary": dashboard.summary(r, s, me, frm, now, now),
        "status": metrics.timeseries(r, me, metric="runs", bucket=bucket, from_ms=frm, to_ms=now, group_by="status"),
        "runs": metrics.timeseries(r, me, metric="runs", bucket=bucket, from_ms=frm, to_ms=now),
        "failing": [j for j in job_store.search_jobs(r, job_store.JobQuery(owner=me, sort="failures", limit=8)).items
                    if j.get("consecutiveFailures", 0) > 0],
        "recent": dashboard.search_executions(r, exec_store.ExecutionQuery(owner=me, limit=15),
                                              count=False).items,
    }


def parse_hours(value: Any) -> int:
    try:
        return max(1, min(int(value), 24 * 90))
    except (TypeError, ValueError):
        return 24


@callback(
    Output(ids.kpis, "children"),
    Output(ids.runs_chart, "figure"),
    Output(ids.failing, "children"),
    Output(ids.feed, "children"),
    Input(ids.range, "value"),
    Input(shell.poll, "n_intervals"),
    Input(shell.live_event, "data"),
)
def refresh(hours: str | None, _n: int | None, _event: Any):
    now = now_ms()
    d = overview_data(redis(), settings(), owner(), parse_hours(hours), now)
    return (kpi_cards(d["summary"], d["summary"]["lateJobs"]), runs_figure(d["status"], d["runs"]),
            failing_list(d["failing"]), feed_table(d["recent"], now))
