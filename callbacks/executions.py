"""Executions explorer callbacks: search, and the address bar kept in step with the view."""
from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, callback, clientside_callback, ctx, dcc, html

from callbacks.common import owner, redis
from chronos import dashboard
from chronos.store import executions as exec_store
from chronos.timeutil import now_ms
from pages._components import create_empty_state
from pages._format import duration, exec_href, job_href, status_badge, time_ago, when
from pages._ids import explorer as ids
from pages._explorer import parse_state, query_string

PAGE_SIZE = 25
MAX_PAGES = 10_000 // PAGE_SIZE


def to_query(me: str, state: dict[str, Any], now: int) -> exec_store.ExecutionQuery:
    hours = None if state["range"] == "all" else int(state["range"])
    return exec_store.ExecutionQuery(
        owner=me, q=state["q"], job_id=state["job"] or None, status=tuple(state["status"]),
        from_ms=None if hours is None else now - hours * 3_600_000,
        offset=(int(state["page"]) - 1) * PAGE_SIZE, limit=PAGE_SIZE)


def results_table(items: list[dict[str, Any]], now: int, filtered: bool) -> Any:
    if not items:
        return html.Div(create_empty_state(
            "No execution matches" if filtered else "No executions in this range",
            "Try other words, another status or a longer time range." if filtered else
            "Runs show up here as soon as the SDK or the API reports them (older ones: pick “Any time”)."),
            className="p-3")
    rows = [html.Tr([
        html.Td(dcc.Link(status_badge(e.get("status")), href=exec_href(e["execId"]))),
        html.Td([dcc.Link(e.get("jobName") or e["jobId"], href=job_href(e["jobId"])),
                 html.Div(dcc.Link(e["execId"], href=exec_href(e["execId"])),
                          className="small font-monospace")]),
        html.Td(when(e.get("startedAt")), title=time_ago(e.get("startedAt"), now), className="text-nowrap"),
        html.Td(duration(e.get("durationMs"))),
        html.Td([html.Div(e.get("errorType") or "", className="font-monospace small"),
                 html.Div((e.get("errorMessage") or "")[:200], className="small text-body-secondary text-break")]),
    ], className="explorer-row") for e in items]
    head = html.Thead(html.Tr([html.Th(h) for h in ("Status", "Job / execution", "Started", "Duration", "Error")]))
    return dbc.Table([head, html.Tbody(rows)], hover=True, size="sm", className="mb-0 align-middle", responsive=True)


@callback(
    Output(ids.table, "children"),
    Output(ids.total, "children"),
    Output(ids.page, "max_value"),
    Output(ids.page, "active_page"),
    Output(ids.sync, "data"),
    Input(ids.q, "value"),
    Input(ids.job, "value"),
    Input(ids.status, "value"),
    Input(ids.range, "value"),
    Input(ids.page, "active_page"),
)
def search(q: str | None, job: str | None, status: list[str] | None, rng: str | None, page: int | None):
    # A changed filter starts again from the first page.
    page_no = str(page or 1) if ctx.triggered_id in (ids.page, None) else "1"
    state = parse_state(q or "", job or "", ",".join(status or []), rng or "168", page_no)
    now = now_ms()
    result = dashboard.search_executions(redis(), to_query(owner(), state, now))
    pages = max(1, min(-(-result.total // PAGE_SIZE), MAX_PAGES))
    filtered = bool(state["q"] or state["job"] or state["status"])
    total = f"{result.total:,} execution{'s' if result.total != 1 else ''}"
    return (results_table(result.items, now, filtered), total, pages, int(state["page"]),
            query_string(state))


# Keep the address bar in step without a navigation (replaceState leaves the page and its inputs alone).
clientside_callback(
    "function(qs){ if (typeof qs === 'string' && window.location.pathname === '/executions') {"
    " var want = qs || ''; if (window.location.search !== want) {"
    " window.history.replaceState(window.history.state, '', '/executions' + want); } }"
    " return window.dash_clientside.no_update; }",
    Output(ids.total, "title"),
    Input(ids.sync, "data"),
)
