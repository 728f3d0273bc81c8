"""Batches callbacks: the list with progress bars, one batch's detail, and retry-failed / cancel.

Reads and writes go through ``chronos.batches.store``, the functions behind ``/api/batches``. Viewers may look
but not retry or cancel: the role is checked here, on the server, whatever the page shows.
"""
from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, ctx, dcc, html
from dash.exceptions import PreventUpdate
from flask import current_app

from callbacks.common import COLORS, base_layout, empty_figure, owner, redis, role
from chronos.batches import store as batch_store
from chronos.batches.lua import BatchScripts
from chronos.timeutil import now_ms, parse_instant
from pages._components import create_empty_state, create_kpi
from pages._format import duration, time_ago, when
from pages._ids import batches as ids
from pages._ids import shell

LIST_LIMIT = 50
FAILED_SHOWN = 100
ACTIVE = ("queued", "running")
STATE_COLORS = {"queued": "secondary", "running": "primary", "completed": "success", "cancelled": "warning"}
HIDDEN = {"display": "none"}
VIEWER_REFUSED = "Viewers cannot retry or cancel batches; ask a member or an administrator."


class Refused(Exception):
    """The signed-in user may not do that (or the batch cannot); the message says why."""


def scripts() -> BatchScripts:
    """The batch scripts, registered once per app (shared with the API, which keeps them in the same place)."""
    found = current_app.extensions.get("chronos_batches")
    if found is None:
        found = current_app.extensions["chronos_batches"] = BatchScripts(redis())
    return found


def concerns(event: Any, batch_id: str | None = None) -> bool:
    """Whether a live event is a ``batch:progress`` event (of ``batch_id``, when given)."""
    if not isinstance(event, dict) or event.get("_type") != "batch:progress":
        return False
    return batch_id is None or event.get("batchId") == batch_id


def progress_event_for(batch_id: str | None = None) -> bool:
    """False when this run was triggered by a live event that does not concern the batches shown."""
    if ctx.triggered_id != shell.live_event:
        return True
    return concerns(ctx.triggered[0].get("value") if ctx.triggered else None, batch_id)


def _ms(iso: str | None) -> int | None:
    try:
        return parse_instant(iso) if iso else None
    except ValueError:
        return None


def state_badge(b: dict[str, Any]) -> Any:
    badge = dbc.Badge(b["state"], color=STATE_COLORS.get(b["state"], "light"), className="text-uppercase")
    if b.get("receiving") and b["state"] in ACTIVE:
        return [badge, dbc.Badge("receiving", color="info", className="ms-1")]
    return badge


def progress_bar(b: dict[str, Any], *, height: str = "1rem") -> html.Div:
    """Delivered and failed shares of the total, striped and moving while the batch is in flight."""
    total = max(1, int(b["total"]))
    moving = b["state"] in ACTIVE
    bars = dbc.Progress([
        dbc.Progress(value=100 * b["delivered"] / total, color="success", bar=True, striped=moving,
                     animated=moving, label=f"{b['delivered']:,}" if b["delivered"] else None),
        dbc.Progress(value=100 * b["failed"] / total, color="danger", bar=True, striped=moving, animated=moving,
                     label=f"{b['failed']:,}" if b["failed"] else None),
    ], style={"height": height, "minWidth": "8rem"})
    return html.Div(bars, className="batch-progress",
                    title=f"{b['progress'] * 100:.1f}% done: {b['delivered']:,} delivered, {b['failed']:,} failed, "
                          f"{b['pending']:,} pending")


def rate(b: dict[str, Any]) -> str:
    return "—" if b.get("throughput") is None else f"{b['throughput']:,.1f}/s"


def batches_table(items: list[dict[str, Any]], selected: str | None, now: int) -> Any:
    if not items:
        return html.Div(create_empty_state(
            "No batches yet", ["Submit one with ", html.Code("POST /api/batches"),
                               (" (Content-Type application/x-ndjson: a configuration line, then one record "
                                "per line); docs/batches.md has the format.")]), className="p-3")
    rows = []
    for b in items:
        name = b.get("primarykey") or b["id"]
        rows.append(html.Tr([
            html.Td([dcc.Link(str(name), href=f"/batches?batch={b['id']}", className="batch-link"),
                     html.Div(b["id"], className="small font-monospace text-body-secondary")]),
            html.Td(state_badge(b)),
            html.Td(progress_bar(b), className="w-25"),
            html.Td(f"{b['total']:,}", className="text-end batch-total"),
            html.Td(f"{b['delivered']:,}", className="text-end batch-delivered"),
            html.Td(f"{b['failed']:,}", className="text-end batch-failed"),
            html.Td(f"{b['pending']:,}", className="text-end"),
            html.Td(rate(b), className="text-end text-nowrap"),
            html.Td(time_ago(_ms(b.get("createdAt")), now), title=when(_ms(b.get("createdAt"))),
                    className="text-nowrap small"),
        ], className="batch-row" + (" table-active" if b["id"] == selected else ""), **{"data-batch": b["id"]}))
    head = html.Thead(html.Tr([html.Th(h, className=c) for h, c in (
        ("Batch", ""), ("State", ""), ("Progress", ""), ("Total", "text-end"), ("Delivered", "text-end"),
        ("Failed", "text-end"), ("Pending", "text-end"), ("Rate", "text-end"), ("Created", ""))]))
    return dbc.Table([head, html.Tbody(rows)], hover=True, size="sm", className="mb-0 align-middle", responsive=True)


def detail_view(b: dict[str, Any]) -> Any:
    lat = b["latencyMs"]
    target = b.get("target") or {}
    cards = [create_kpi("Total", f"{b['total']:,}", f"{b['rejectedLines']:,} lines rejected", id_="batch-kpi-total"),
             create_kpi("Delivered", f"{b['delivered']:,}", f"{b['retries']:,} retries", id_="batch-kpi-delivered"),
             create_kpi("Failed", f"{b['failed']:,}", f"{b['pending']:,} pending"
                        + (f", {b['cancelled']:,} cancelled" if b.get("cancelled") else ""), id_="batch-kpi-failed"),
             create_kpi("Rate", rate(b), "records per second", id_="batch-kpi-rate"),
             create_kpi("Latency p50", duration(lat["p50"]), f"p95 {duration(lat['p95'])} · max {duration(lat['max'])}",
                        id_="batch-kpi-latency")]
    facts = [f"{target.get('method') or 'POST'} {target.get('url') or ''}",
             f"concurrency {target.get('concurrency')}", f"retries {target.get('retries')}",
             f"timeout {duration(target.get('timeoutMs'))}"]
    return html.Div([
        dbc.Row([
            dbc.Col([html.H3(str(b.get("primarykey") or b["id"]), className="h5 mb-1", id="batch-name"),
                     html.Div([html.Span(b["id"], className="font-monospace small me-2"), state_badge(b)])],
                    className="me-auto"),
            dbc.Col(html.Div(" · ".join(facts), className="small text-body-secondary text-break"), md=6),
        ], className="align-items-end mb-2"),
        progress_bar(b, height="1.4rem"),
        html.Div(b["note"], className="small text-warning mt-1") if b.get("note") else None,
        dbc.Row([dbc.Col(c, xs=6, md=True) for c in cards], className="g-3 mt-1"),
    ], id="batch-detail-body")


def histogram_figure(hist: list[dict[str, Any]]) -> dict[str, Any]:
    if not hist:
        return empty_figure("No answered requests yet")
    labels = [f"{h['fromMs']:.3g}–{h['toMs']:.3g} ms" for h in hist]
    return {"data": [{"type": "bar", "x": labels, "y": [h["count"] for h in hist], "name": "records",
                      "marker": {"color": COLORS["total"]}, "hovertemplate": "%{x}: %{y:,}<extra></extra>"}],
            "layout": base_layout(showlegend=False, bargap=0.05, hovermode="closest",
                                  xaxis={"type": "category", "title": {"text": "latency"}},
                                  yaxis={"title": {"text": "records"}})}


def failed_table(records: list[dict[str, Any]], more: bool, total_failed: int) -> Any:
    if not records:
        return html.P("No failed records.", className="text-body-secondary m-3")
    rows = [html.Tr([
        html.Td(str(rec.get("id")), className="font-monospace"),
        html.Td(str(rec["httpStatus"]) if rec.get("httpStatus") else "no answer"),
        html.Td(str(rec.get("attempts", "—"))),
        html.Td(duration(rec.get("latencyMs")) if rec.get("latencyMs") is not None else "—"),
        html.Td((rec.get("error") or "")[:300], className="small text-body-secondary text-break"),
    ], className="failed-row") for rec in records]
    head = html.Thead(html.Tr([html.Th(h) for h in ("Record id", "HTTP", "Attempts", "Latency", "Error")]))
    note = html.P(f"The first {len(records):,} of {total_failed:,} failed records "
                  "(all of them: GET /api/batches/<id>/records?status=failed).",
                  className="small text-body-secondary m-2") if more else None
    return html.Div([dbc.Table([head, html.Tbody(rows)], size="sm", className="mb-0 align-middle",
                               responsive=True), note])


def act(r: Any, me: str, user_role: str, batch_id: str, action: str) -> str:
    """Retry a batch's failed records or cancel it; the message for the user. Raises Refused."""
    if user_role == "viewer":
        raise Refused(VIEWER_REFUSED)
    if batch_store.load(r, batch_id, me) is None:
        raise Refused("No such batch.")
    if action == "retry":
        try:
            n = batch_store.retry_failed(r, scripts(), batch_id, me)
        except batch_store.RetryRefused as exc:
            raise Refused(exc.reason.capitalize() + ".") from None
        return f"Sent {n:,} failed record{'s' if n != 1 else ''} again." if n else "No failed records to retry."
    if not batch_store.cancel(r, scripts(), batch_id, me, note="cancelled from the dashboard"):
        raise Refused("The batch is already over; nothing to cancel.")
    return "Cancelled: records not yet final count as cancelled."


@callback(
    Output(ids.list, "children"),
    Output(ids.total, "children"),
    Output(ids.tick, "disabled"),
    Input(ids.state, "value"),
    Input(ids.selected, "data"),
    Input(ids.changed, "data"),
    Input(ids.tick, "n_intervals"),
    Input(shell.poll, "n_intervals"),
    Input(shell.live_event, "data"),
)
def refresh_list(state: str | None, selected: str | None, _changed, _tick, _poll, _event):
    if not progress_event_for():
        raise PreventUpdate
    state = state if state in ("queued", "running", "completed", "cancelled") else None
    items, total = batch_store.list_batches(redis(), owner(), limit=LIST_LIMIT, state=state)
    busy = any(b["state"] in ACTIVE for b in items)
    shown = f"{total:,} batch{'es' if total != 1 else ''}" + (f" (newest {len(items)})" if total > len(items) else "")
    return batches_table(items, selected, now_ms()), shown, not busy


@callback(
    Output(ids.detail, "children"),
    Output(ids.histogram, "figure"),
    Output(ids.failed, "children"),
    Output(ids.retry, "disabled"),
    Output(ids.cancel, "disabled"),
    Output(ids.detail_row, "style"),
    Input(ids.selected, "data"),
    Input(ids.changed, "data"),
    Input(ids.tick, "n_intervals"),
    Input(shell.poll, "n_intervals"),
    Input(shell.live_event, "data"),
)
def refresh_detail(batch_id: str | None, _changed, _tick, _poll, _event):
    if not progress_event_for(batch_id):
        raise PreventUpdate
    r, me = redis(), owner()
    if not batch_id:
        return (html.P("Pick a batch in the list to see its latency and failed records.",
                       className="text-body-secondary"), empty_figure("No batch picked"), None, True, True, HIDDEN)
    raw = batch_store.load(r, batch_id, me)
    if raw is None:
        return (create_empty_state("No such batch", f"There is no batch “{batch_id}” in your account."),
                empty_figure(""), None, True, True, HIDDEN)
    b = batch_store.view(r, batch_id, me) or {}
    failed, cursor = batch_store.records(r, raw, "failed", -1, FAILED_SHOWN) if b["failed"] else ([], None)
    viewer = role() == "viewer"
    return (detail_view(b), histogram_figure(b.get("histogram") or []),
            failed_table(failed, cursor is not None, b["failed"]),
            viewer or b["state"] != "completed" or not b["failed"], viewer or b["state"] not in ACTIVE, {})


@callback(
    Output(ids.message, "children"),
    Output(ids.changed, "data"),
    Input(ids.retry, "n_clicks"),
    Input(ids.cancel, "n_clicks"),
    State(ids.selected, "data"),
    State(ids.changed, "data"),
    prevent_initial_call=True,
)
def retry_or_cancel(_retry, _cancel, batch_id: str | None, changed: int | None):
    me, user_role = owner(), role()
    if ctx.triggered_id not in (ids.retry, ids.cancel) or not ctx.triggered or not ctx.triggered[0].get("value"):
        raise PreventUpdate
    try:
        text, color = act(redis(), me, user_role, batch_id or "", "retry" if ctx.triggered_id == ids.retry
                          else "cancel"), "success"
    except Refused as exc:
        text, color = str(exc), "warning"
    return (dbc.Alert(text, color=color, dismissable=True, duration=6000, className="py-2", id="batches-alert"),
            int(changed or 0) + 1)
