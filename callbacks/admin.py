"""Admin callbacks (admin role only, checked here on every call): users and the system figures."""
from __future__ import annotations

import json
from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, callback, ctx, html
from dash.exceptions import PreventUpdate

from callbacks.common import COLORS, base_layout, empty_figure, owner, redis, role, settings
from chronos import dashboard
from chronos.scheduling import claims, registry
from chronos.store import ingest_queue, users
from chronos.timeutil import now_ms
from pages._format import time_ago, when
from pages._ids import admin as ids
from pages._ids import admin_sched
from pages._ids import shell

NOT_ALLOWED = dbc.Alert("This page is for administrators.", color="warning", id="admin-refused")
NOT_ALLOWED_SCHEDULERS = html.P("This page is for administrators.", className="text-body-secondary m-3")


def pending_changes(triggered: list[dict[str, Any]], by_id: dict[str, dict[str, Any]], me: str
                    ) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """Changes asked for by the triggered widgets that differ from what is stored, and refusals.

    Redrawing the table fires the widgets again with the stored values; those are no changes.
    """
    changes, refused = [], []
    for t in triggered:
        prop = t.get("prop_id", "")
        if not prop.startswith("{"):
            continue
        wid = json.loads(prop.rsplit(".", 1)[0])
        user = by_id.get(wid.get("user"))
        if user is None:
            continue
        if wid["type"] == "admin-role" and t.get("value") in users.ROLES and t["value"] != user.get("role"):
            change = {"role": t["value"]}
        elif wid["type"] == "admin-disable" and isinstance(t.get("value"), bool) \
                and t["value"] != bool(user.get("disabled")):
            change = {"disabled": t["value"]}
        else:
            continue
        if user["id"] == me:
            refused.append("You cannot change your own role or disable yourself.")
            continue
        changes.append((user["id"], change))
    return changes, refused


def users_table(rows: list[dict[str, Any]], me: str) -> Any:
    body = []
    for u in rows:
        mine = u["id"] == me
        body.append(html.Tr([
            html.Td([html.Div(u.get("name") or ""), html.Div(u["email"], className="small text-body-secondary")]),
            html.Td(dbc.Select(id=ids.role(u["id"]), value=u.get("role", "member"), size="sm", disabled=mine,
                               options=[{"label": r, "value": r} for r in users.ROLES])),
            html.Td(dbc.Switch(id=ids.disable(u["id"]), value=bool(u.get("disabled")), label="disabled",
                               disabled=mine)),
            html.Td(when(u.get("createdAt")), className="small"),
        ], className="user-row"))
    head = html.Thead(html.Tr([html.Th(h) for h in ("User", "Role", "Access", "Created")]))
    return dbc.Table([head, html.Tbody(body)], size="sm", className="mb-0 align-middle", responsive=True)


def _mb(n: float | None) -> str:
    return "—" if n is None else f"{n:,.2f} MB"


def queue_text(q: dict[str, Any]) -> str:
    """The ingest queue in a line: off, or its backlog; batches set aside after failing to record stand out."""
    if not q.get("enabled") and not q.get("batches") and not q.get("dead"):
        return "off: batches are recorded in the request (CHRONOS_INGEST_QUEUE)"
    text = f"{q['batches']:,} batch(es) waiting" + (f", oldest {q['oldestMs'] / 1000:.1f} s" if q["batches"] else "")
    if q.get("dead"):
        text += f" · {q['dead']:,} dead-lettered (see `chronos ingest-queue dead`)"
    return text


def system_view(s: dict[str, Any], rate: list[list[int]], queue: dict[str, Any] | None = None) -> Any:
    last5 = sum(v for _, v in rate[-5:]) / 5 if rate else 0
    rows = [("Redis memory", f"{s['usedMemoryHuman']} (peak {s['peakMemoryHuman']})"),
            ("Keys", f"{s['keys']:,} ({s['expiring']:,} expiring)"), ("Users", f"{s['users']:,}"),
            ("Ingest rate", f"{last5:,.1f} runs finished per minute (last 5 min)")]
    if queue is not None:
        rows.append(("Ingest queue", queue_text(queue)))
    for ix in s["indexes"]:
        rows.append((f"Index {ix['name']}", f"{ix['docs']:,} docs · {_mb(ix['sizeMb'])}"
                     + (" · indexing" if ix.get("indexing") else "")))
    return html.Dl([x for k, v in rows for x in (html.Dt(k, className="col-sm-5 text-body-secondary fw-normal"),
                                                   html.Dd(v, className="col-sm-7"))], className="row mb-0",
                   id="admin-system-facts")


def rate_figure(rate: list[list[int]]) -> dict[str, Any]:
    if not any(v for _, v in rate):
        return empty_figure("No executions in the last hour")
    return {"data": [{"type": "bar", "x": [t for t, _ in rate], "y": [v for _, v in rate], "name": "per minute",
                      "marker": {"color": COLORS["total"]}}],
            "layout": base_layout(xaxis={"type": "date"}, showlegend=False)}


@callback(
    Output(ids.users, "children"),
    Output(ids.message, "children"),
    Input(ids.refresh, "n_clicks"),
    Input(ids.role(ALL), "value"),
    Input(ids.disable(ALL), "value"),
)
def manage_users(_clicks, _roles, _disabled):
    me, r = owner(), redis()
    if role() != "admin":
        return None, NOT_ALLOWED
    rows = users.list_users(r)
    message = None
    if isinstance(ctx.triggered_id, dict):
        changes, refused = pending_changes(ctx.triggered, {u["id"]: u for u in rows}, me)
        if not changes and not refused:
            raise PreventUpdate
        for user_id, change in changes:
            users.update_user(r, user_id, **change)
        rows = users.list_users(r)
        text = "; ".join(refused) if refused else "Saved."
        message = dbc.Alert(text, color="warning" if refused else "success", dismissable=True, duration=4000,
                            className="py-2")
    return users_table(rows, me), message


@callback(
    Output(ids.system, "children"),
    Output(ids.rate_chart, "figure"),
    Input(ids.refresh, "n_clicks"),
    Input(shell.poll, "n_intervals"),
)
def refresh_system(_clicks, _n):
    owner()
    if role() != "admin":
        return NOT_ALLOWED, empty_figure("")
    r = redis()
    now = now_ms()
    rate = dashboard.ingest_rate(r, now)
    queue = {"enabled": settings().chronos_ingest_queue, **ingest_queue.backlog(r, now)}
    return system_view(dashboard.system_stats(r), rate, queue), rate_figure(rate)


# ---- scheduler heartbeats -------------------------------------------------------------------------------------

def nodes_table(nodes: list[dict[str, Any]], now: int, pending: int = 0) -> Any:
    """The registered scheduler processes: alive (heartbeat present) or gone without deregistering, and the
    triggers claimed ahead that wait for their due time."""
    if not nodes:
        return html.P("No scheduler is registered: start one with `chronos scheduler` (or `chronos up`). Until one "
                      "runs, nothing fires and no job goes late.", className="text-body-secondary m-3",
                      id="admin-no-schedulers")
    rows = []
    for n in nodes:
        stats = n.get("stats") or {}
        rows.append(html.Tr([
            html.Td([html.Div(n["id"], className="font-monospace small"),
                     html.Div(f"{n.get('host', '')} · pid {n.get('pid', '—')}", className="small text-body-secondary")]),
            html.Td(dbc.Badge("alive" if n.get("alive") else "gone", color="success" if n.get("alive") else "secondary")),
            html.Td(time_ago(n.get("lastBeat"), now), title=when(n.get("lastBeat")), className="text-nowrap"),
            html.Td(when(n.get("startedAt")), className="small text-nowrap"),
            html.Td(" · ".join(f"{k} {v:,}" for k, v in stats.items() if isinstance(v, int)) or "—",
                    className="small"),
        ], className="scheduler-row"))
    head = html.Thead(html.Tr([html.Th(h) for h in ("Process", "State", "Last heartbeat", "Started", "Counters")]))
    waiting = html.P(f"{pending:,} trigger claimed ahead, waiting for its due time" if pending == 1 else
                     f"{pending:,} triggers claimed ahead, waiting for their due time",
                     className="small text-body-secondary m-2", id="admin-pending-triggers")
    return html.Div([dbc.Table([head, html.Tbody(rows)], size="sm", className="mb-0 align-middle", responsive=True),
                     waiting])


@callback(
    Output(admin_sched.nodes, "children"),
    Input(ids.refresh, "n_clicks"),
    Input(shell.poll, "n_intervals"),
)
def refresh_schedulers(_clicks, _n):
    owner()
    if role() != "admin":
        return NOT_ALLOWED_SCHEDULERS
    r = redis()
    return nodes_table(registry.list_nodes(r), now_ms(), claims.pending_count(r))
