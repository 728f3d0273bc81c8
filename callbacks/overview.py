"""Overview callbacks: thin adapters over chronos.analytics and the stores."""
from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, callback, html

from callbacks.common import COLORS, base_layout, owner, redis, settings
from chronos import analytics
from chronos.store import executions as exec_store
from chronos.store import jobs as job_store
from chronos.store import metrics
from chronos.timeutil import now_ms
from pages._components import create_empty_state, create_kpi
from pages._ids import overview as ids
from pages._ids import shell
from pages._format import duration, status_badge, time_ago


def kpi_cards(s: dict[str, Any]) -> list[dbc.Col]:
    rate = "—" if s["successRate"] is None else f"{s['successRate'] * 100:.1f}%"
    cards = [
        create_kpi("Jobs", f"{s['jobs']:,}", f"{s['activeJobs']:,} ran in range"),
        create_kpi("Runs", f"{s['runs']:,}", f"{s['failures']:,} failed"),
        create_kpi("Success rate", rate),
        create_kpi("p95 duration", duration(s["p95DurationMs"]), f"p50 {duration(s['p50DurationMs'])}"),
        create_kpi("Failing jobs", f"{s['failingJobs']:,}", "consecutive failures > 0"),
    ]
    return [dbc.Col(c, xs=6, md=4, xl=True) for c in cards]


def runs_figure(series: dict[str, Any], theme: str | None) -> dict[str, Any]:
    by_name = {s["name"]: s["points"] for s in series["series"]}
    ok, bad = by_name.get("success", []), by_name.get("failed", [])
    xs = [p[0] for p in ok]
    total = [a[1] + b[1] for a, b in zip(ok, bad)]
    return {
        "data": [
            {"type": "bar", "name": "Success", "x": xs, "y": [p[1] for p in ok], "marker": {"color": COLORS["success"]}},
            {"type": "bar", "name": "Failed", "x": xs, "y": [p[1] for p in bad], "marker": {"color": COLORS["failed"]}},
            {"type": "scatter", "mode": "lines", "name": "Total", "x": xs, "y": total,
             "line": {"color": COLORS["total"], "width": 2}},
        ],
        "layout": base_layout(theme, barmode="stack", xaxis={"type": "date"}),
    }


def failing_list(jobs: list[dict[str, Any]]) -> Any:
    if not jobs:
        return html.P("No job is failing right now.", className="text-body-secondary mb-0")
    return dbc.ListGroup([
        dbc.ListGroupItem([
            html.Div([html.A(j.get("name") or j["id"], href=f"/jobs/{j['id']}", className="fw-semibold"),
                      dbc.Badge(f"{j.get('consecutiveFailures', 0)}× failed", color="danger", className="ms-2")]),
            html.Div((j.get("lastError") or "")[:140], className="small text-body-secondary text-truncate"),
        ]) for j in jobs
    ], flush=True)


def feed_table(items: list[dict[str, Any]]) -> Any:
    if not items:
        return create_empty_state("No executions yet",
                                  "Report a run with the SDK or the API (Settings shows a snippet with your key).")
    rows = [
        html.Tr([
            html.Td(html.A(e.get("jobName") or e["jobId"], href=f"/jobs/{e['jobId']}")),
            html.Td(status_badge(e["status"])),
            html.Td(duration(e.get("durationMs"))),
            html.Td(time_ago(e.get("finishedAt") or e.get("startedAt")), title=str(e.get("startedAt", ""))),
            html.Td((e.get("errorMessage") or "")[:120], className="text-body-secondary small"),
        ], id={"type": "feed-row", "id": e["execId"]})
        for e in items
    ]
    head = html.Thead(html.Tr([html.Th(h) for h in ("Job", "Status", "Duration", "When", "Error")]))
    return dbc.Table([head, html.Tbody(rows)], hover=True, size="sm", className="mb-0", responsive=True)


@callback(
    Output(ids.kpis, "children"),
    Output(ids.runs_chart, "figure"),
    Output(ids.failing, "children"),
    Output(ids.feed, "children"),
    Input(ids.range, "value"),
    Input(shell.poll, "n_intervals"),
    Input(shell.live_event, "data"),
    Input(shell.theme, "data"),
)
def refresh(hours: str | None, _n: int | None, _event: Any, theme: str | None):
    me, r, s = owner(), redis(), settings()
    now = now_ms()
    frm = now - int(hours or 24) * 3_600_000
    summary = analytics.summary(r, s, me, frm, now)
    bucket = "1h" if int(hours or 24) <= 168 else "1d"
    runs = metrics.timeseries(r, me, metric="runs", bucket=bucket, from_ms=frm, to_ms=now, group_by="status")
    failing = job_store.search_jobs(r, job_store.JobQuery(owner=me, sort="failures", limit=8))
    failing_jobs = [j for j in failing.items if j.get("consecutiveFailures", 0) > 0]
    recent = exec_store.search_executions(r, exec_store.ExecutionQuery(owner=me, limit=15))
    return kpi_cards(summary), runs_figure(runs, theme), failing_list(failing_jobs), feed_table(recent.items)
