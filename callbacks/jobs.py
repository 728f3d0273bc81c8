"""Jobs list callbacks: the filter options and the page of jobs (with sparklines for that page only)."""
from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, ctx, dcc, html

from callbacks.common import owner, redis
from chronos import dashboard
from chronos.store import jobs as job_store
from chronos.timeutil import now_ms
from pages._components import ANY, create_empty_state
from pages._cron import describe_cron
from pages._format import duration, job_href, status_badge, success_rate, time_ago, when
from pages._ids import jobs as ids
from pages._ids import shell

MAX_OFFSET = 10_000  # RediSearch's default MAXSEARCHRESULTS; narrow the search past that


def sparkline(runs: list[dict[str, Any]]) -> Any:
    """The last runs' durations as tiny CSS bars (failures red), oldest left; a dash when there are none."""
    if not runs:
        return html.Span("—", className="text-body-secondary")
    top = max((x["durationMs"] or 0) for x in runs) or 1
    bars = [html.Span(className="bar " + ("fail" if x["status"] in ("failed", "timeout") else "ok"),
                      style={"height": f"{max(8, round(100 * (x['durationMs'] or 0) / top))}%"},
                      title=f"{duration(x['durationMs'])} · {x['status']}") for x in runs]
    return html.Div(bars, className="sparkline", title="durations of the last runs")


def jobs_table(items: list[dict[str, Any]], runs: dict[str, list[dict[str, Any]]], now: int) -> Any:
    rows = []
    for j in items:
        tags = [dbc.Badge(t, color="secondary", className="me-1 fw-normal", pill=True) for t in j.get("tags") or []]
        rows.append(html.Tr([
            html.Td([dcc.Link(j.get("name") or j["id"], href=job_href(j["id"]), className="fw-semibold"),
                     html.Div(j["id"], className="small text-body-secondary font-monospace")]),
            html.Td([html.Div(describe_cron(j.get("schedule")) if j.get("schedule") else
                              ("Once" if j.get("runMode") == "once" else "—")),
                     html.Div(j.get("timezone") or "UTC", className="small text-body-secondary")]),
            html.Td(time_ago(j.get("nextRunAt"), now) if j.get("nextRunAt") else "—", title=when(j.get("nextRunAt"))),
            html.Td([status_badge(j.get("lastStatus")) if j.get("lastStatus") else
                     html.Span("never ran", className="small text-body-secondary"),
                     html.Div(time_ago(j.get("lastRunAt"), now) if j.get("lastRunAt") else "",
                              className="small text-body-secondary", title=when(j.get("lastRunAt")))]),
            html.Td([html.Div(success_rate(j)), html.Div(f"{int(j.get('totalRuns') or 0):,} runs",
                                                         className="small text-body-secondary")]),
            html.Td([sparkline(runs.get(j["id"], [])),
                     html.Div(duration(j.get("lastDurationMs")) if j.get("lastRunAt") else "",
                              className="small text-body-secondary")]),
            html.Td(tags + ([html.Div(j["appId"], className="small text-body-secondary")] if j.get("appId") else [])),
        ], className="job-row"))
    head = html.Thead(html.Tr([html.Th(h) for h in ("Job", "Schedule", "Next run", "Last run", "Success",
                                                     "Duration (last runs)", "Tags / app")]))
    return dbc.Table([head, html.Tbody(rows)], hover=True, size="sm", className="mb-0 align-middle",
                     responsive=True)


def jobs_page(r: Any, me: str, *, q: str, status: str, tag: str, app: str, sort: str, page: int, size: int,
              now: int) -> tuple[Any, int, str]:
    """(table, page count, total text) for one page of jobs."""
    size = max(1, min(int(size), 100))
    offset = min((max(page, 1) - 1) * size, MAX_OFFSET - size)
    query = job_store.JobQuery(owner=me, q=q[:200], status=status or None, tag=tag or None, app=app or None,
                               sort=sort, offset=offset, limit=size)
    result = job_store.search_jobs(r, query)
    pages = max(1, min(-(-result.total // size), MAX_OFFSET // size))
    if not result.items:
        filtered = bool(q or status or tag or app)
        empty = create_empty_state(
            "No job matches" if filtered else "No jobs yet",
            "Clear the filters or search for another name." if filtered else
            "Jobs appear when the SDK registers them or reports their first run. "
            "Settings has an API key and a snippet to start with.",
            action=None if filtered else dcc.Link("Open Settings", href="/settings",
                                                  className="btn btn-primary btn-sm"))
        return html.Div(empty, className="p-3"), pages, "0 jobs"
    runs = dashboard.recent_runs(r, me, [j["id"] for j in result.items],
                                 last_runs={j["id"]: j["lastRunAt"] for j in result.items
                                            if isinstance(j.get("lastRunAt"), int)})
    return jobs_table(result.items, runs, now), pages, f"{result.total:,} job{'s' if result.total != 1 else ''}"


def options(values: list[tuple[str, int]], any_label: str, current: str | None) -> list[dict[str, str]]:
    opts = [{"label": any_label, "value": ANY}] + [{"label": f"{v} ({n})", "value": v} for v, n in values]
    if current and current != ANY and current not in {v for v, _ in values}:
        opts.append({"label": current, "value": current})
    return opts


@callback(
    Output(ids.tag, "options"),
    Output(ids.app, "options"),
    Input(ids.table, "id"),
    State(ids.tag, "value"),
    State(ids.app, "value"),
)
def load_facets(_id: str, tag: str | None, app: str | None):
    r, me = redis(), owner()
    return (options(dashboard.facet_values(r, me, "tags"), "Any tag", tag),
            options(dashboard.facet_values(r, me, "appId"), "Any app", app))


@callback(
    Output(ids.table, "children"),
    Output(ids.page, "max_value"),
    Output(ids.page, "active_page"),
    Output(ids.total, "children"),
    Input(ids.search, "value"),
    Input(ids.status, "value"),
    Input(ids.tag, "value"),
    Input(ids.app, "value"),
    Input(ids.sort, "value"),
    Input(ids.page_size, "value"),
    Input(ids.page, "active_page"),
    Input(shell.poll, "n_intervals"),
    Input(shell.live_event, "data"),
)
def refresh(q, status, tag, app, sort, size, page, _n, _event):
    # A changed filter starts again from the first page.
    page = page or 1 if ctx.triggered_id in (ids.page, shell.poll, shell.live_event, None) else 1
    status, tag, app = (v if v and v != ANY else "" for v in (status, tag, app))
    table, pages, total = jobs_page(redis(), owner(), q=q or "", status=status, tag=tag, app=app,
                                    sort=sort or "name", page=page, size=int(size or 25), now=now_ms())
    return table, pages, min(page, pages), total
