"""Job detail callbacks. Live events for other jobs are ignored; the job's own refresh the page."""
from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, ctx, dcc, html
from dash.exceptions import PreventUpdate

from callbacks.common import COLORS, base_layout, empty_figure, live_event_for, owner, redis, role, settings
from chronos import dashboard
from chronos.insights import anomalies
from chronos.scheduling import alerts, flips, jobstore, registry
from chronos.store import executions as exec_store
from chronos.store import jobs as job_store
from chronos.timeutil import now_ms
from pages._components import ANY, create_empty_state, create_kpi
from pages._cron import describe_cron
from pages._format import duration, exec_href, status_badge, success_rate, time_ago, when
from pages._ids import job as ids
from pages._ids import job_ops
from pages._ids import shell

PAGE_SIZE = 20
# range (hours) -> (duration bucket ms, runs period)
BUCKETS = {24: (3_600_000, "hour"), 168: (6 * 3_600_000, "day"), 720: (86_400_000, "day")}


def _hours(value: Any) -> int:
    try:
        h = int(value)
    except (TypeError, ValueError):
        return 24
    return h if h in BUCKETS else 24


def _row(label: str, value: Any) -> list[Any]:
    return [html.Dt(label, className="col-sm-4 text-body-secondary fw-normal"), html.Dd(value, className="col-sm-8")]


def header(job: dict[str, Any]) -> Any:
    badges = [status_badge(job.get("lastStatus")) if job.get("lastStatus") else dbc.Badge("never ran", color="light",
                                                                                         text_color="dark")]
    if job.get("state"):
        badges.append(dbc.Badge(job["state"], color="info", className="ms-2 text-uppercase"))
    if job.get("registered") == "no":
        badges.append(dbc.Badge("known from its runs only", color="warning", text_color="dark", className="ms-2"))
    return dbc.Row([
        dbc.Col([html.Div([dcc.Link("Jobs", href="/jobs"), " / "], className="small text-body-secondary"),
                 html.H2(job.get("name") or job["id"], className="h4 mb-1 job-name"),
                 html.Div([html.Span(job["id"], className="font-monospace small me-3"), *badges])],
                className="me-auto"),
        dbc.Col(dcc.Link("Search its errors", className="btn btn-outline-secondary btn-sm",
                         href=f"/executions?job={job['id']}&status=failed,timeout"), width="auto"),
    ], className="align-items-end")


def info(job: dict[str, Any], now: int) -> Any:
    schedule = job.get("schedule")
    tags = [dcc.Link(dbc.Badge(t, color="secondary", pill=True, className="me-1 fw-normal"), href=f"/jobs?tag={t}")
            for t in job.get("tags") or []]
    rows = [
        _row("Schedule", [describe_cron(schedule), html.Code(schedule, className="ms-2")] if schedule else
             ("Once" if job.get("runMode") == "once" else "No schedule")),
        _row("Timezone", job.get("timezone") or "UTC"),
        _row("Next run", [time_ago(job["nextRunAt"], now), html.Span(f" · {when(job['nextRunAt'])}",
                                                                     className="text-body-secondary small")]
             if job.get("nextRunAt") else "—"),
        _row("Last run", [time_ago(job["lastRunAt"], now), html.Span(f" · {when(job['lastRunAt'])}",
                                                                     className="text-body-secondary small")]
             if job.get("lastRunAt") else "never"),
        _row("State", job.get("state") or "—"),
        _row("App", job.get("appId") or "—"),
        _row("Tags", tags or "—"),
        _row("Version", job.get("version") or "—"),
    ]
    if job.get("signatureHash"):
        rows.append(_row("Signature", html.Code(job["signatureHash"])))
    if job.get("graceSeconds") is not None:
        rows.append(_row("Grace", f"{job['graceSeconds']} s"))
    if job.get("maxRuntimeSeconds") is not None:
        rows.append(_row("Max runtime", f"{job['maxRuntimeSeconds']} s"))
    if job.get("lastError"):
        rows.append(_row("Last error", html.Span(job["lastError"], className="text-danger text-break")))
    if job.get("description"):
        rows.append(_row("Description", html.Span(job["description"], className="text-break")))
    return html.Dl([x for pair in rows for x in pair], className="row mb-0")


def kpis(job: dict[str, Any]) -> list[Any]:
    cards = [create_kpi("Runs", f"{int(job.get('totalRuns') or 0):,}", "recorded in total"),
             create_kpi("Success rate", success_rate(job), f"{int(job.get('totalFailures') or 0):,} failed"),
             create_kpi("Failing streak", f"{int(job.get('consecutiveFailures') or 0)}", "consecutive failures"),
             create_kpi("Last duration", duration(job.get("lastDurationMs")) if job.get("lastRunAt") else "—")]
    return [dbc.Col(c, xs=6, md=3) for c in cards]


def versions_table(rows: list[dict[str, Any]]) -> Any:
    if not rows:
        return html.P("No runs yet: versions appear with the first reported run.", className="text-body-secondary m-3")
    return dbc.Table([
        html.Thead(html.Tr([html.Th(h) for h in ("Job version", "App version", "Runs", "First seen", "Last seen")])),
        html.Tbody([html.Tr([html.Td(v["jobVersion"] or "—"), html.Td(v["appVersion"] or "—"),
                             html.Td(f"{v['runs']:,}"), html.Td(when(v["first"])), html.Td(when(v["last"]))])
                    for v in rows]),
    ], size="sm", className="mb-0", responsive=True)


def duration_figure(buckets: list[dict[str, Any]], failures: list[dict[str, Any]],
                    anomalies: list[Any] | None = None) -> dict[str, Any]:
    if not buckets:
        return empty_figure("No runs in this range")
    xs = [b["t"] for b in buckets]
    data = [{"type": "scatter", "mode": "lines+markers", "name": name.upper() if name != "max" else "Max",
             "x": xs, "y": [b[name] for b in buckets], "line": {"color": COLORS[name], "width": 2,
                                                               "dash": "dot" if name == "max" else "solid"}}
            for name in ("p50", "p95", "max")]
    if failures:
        data.append({"type": "scatter", "mode": "markers", "name": "Failed run",
                     "x": [f["startedAt"] for f in failures], "y": [f.get("durationMs") or 0 for f in failures],
                     "marker": {"color": COLORS["failed"], "symbol": "x", "size": 9},
                     "text": [f.get("errorMessage", "")[:80] for f in failures],
                     "hovertemplate": "%{y:.0f} ms<br>%{text}<extra>failed</extra>"})
    slow_or_fast = [a for a in anomalies or [] if a.kind in ("too_slow", "too_fast") and a.value is not None]
    if slow_or_fast:
        data.append({"type": "scatter", "mode": "markers", "name": "Anomaly",
                     "x": [a.at for a in slow_or_fast], "y": [a.value for a in slow_or_fast],
                     "marker": {"color": COLORS["timeout"], "symbol": "diamond-open", "size": 13,
                                "line": {"width": 2}},
                     "text": [a.reason[:120] for a in slow_or_fast],
                     "hovertemplate": "%{y:.0f} ms<br>%{text}<extra>anomaly</extra>"})
    return {"data": data, "layout": base_layout(xaxis={"type": "date"}, yaxis={"title": {"text": "ms"}})}


def runs_figure(d: dict[str, list[Any]]) -> dict[str, Any]:
    if not any(d["total"]):
        return empty_figure("No runs in this range")
    return {"data": [
        {"type": "bar", "name": "Success", "x": d["x"], "y": d["success"], "marker": {"color": COLORS["success"]}},
        {"type": "bar", "name": "Failed", "x": d["x"], "y": d["failed"], "marker": {"color": COLORS["failed"]}},
        {"type": "scatter", "mode": "lines", "name": "Total", "x": d["x"], "y": d["total"],
         "line": {"color": COLORS["total"], "width": 1.5, "shape": "hvh"}},
    ], "layout": base_layout(barmode="stack", bargap=0.1, xaxis={"type": "date"})}


def executions_table(items: list[dict[str, Any]], now: int) -> Any:
    if not items:
        return html.P("No executions match.", className="text-body-secondary m-3")
    rows = [html.Tr([
        html.Td(dcc.Link(e["execId"], href=exec_href(e["execId"]), className="font-monospace small")),
        html.Td(status_badge(e.get("status"))),
        html.Td(when(e.get("startedAt")), title=time_ago(e.get("startedAt"), now)),
        html.Td(duration(e.get("durationMs"))),
        html.Td(str(e.get("attempt", "—"))),
        html.Td(str(e["exitCode"]) if e.get("exitCode") is not None else "—"),
        html.Td((e.get("errorMessage") or "")[:140], className="small text-body-secondary text-break"),
    ], className="exec-row") for e in items]
    head = html.Thead(html.Tr([html.Th(h) for h in ("Execution", "Status", "Started", "Duration", "Attempt",
                                                     "Exit", "Error")]))
    return dbc.Table([head, html.Tbody(rows)], hover=True, size="sm", className="mb-0 align-middle", responsive=True)


@callback(
    Output(ids.header, "children"),
    Output(ids.info, "children"),
    Output(ids.kpis, "children"),
    Output(ids.versions, "children"),
    Input(ids.id, "data"),
    Input(shell.poll, "n_intervals"),
    Input(shell.live_event, "data"),
)
def refresh_job(job_id: str, _n, _event):
    if not live_event_for(job_id):
        raise PreventUpdate
    r, me, now = redis(), owner(), now_ms()
    job = job_store.get(r, me, job_id) if job_id else None
    if job is None:
        return (create_empty_state("No such job", f"There is no job with the id “{job_id}” in your account.",
                                   action=dcc.Link("All jobs", href="/jobs", className="btn btn-primary btn-sm")),
                None, None, None)
    return header(job), info(job, now), kpis(job), versions_table(dashboard.job_versions(r, me, job_id))


@callback(
    Output(ids.duration_chart, "figure"),
    Output(ids.runs_chart, "figure"),
    Input(ids.id, "data"),
    Input(ids.range, "value"),
    Input(shell.poll, "n_intervals"),
    Input(shell.live_event, "data"),
)
def refresh_charts(job_id: str, hours: Any, _n, _event):
    if not job_id or not live_event_for(job_id):
        raise PreventUpdate
    r, me, now = redis(), owner(), now_ms()
    h = _hours(hours)
    bucket_ms, period = BUCKETS[h]
    frm = now - h * 3_600_000
    buckets = dashboard.duration_buckets(r, me, job_id, frm, now, bucket_ms)
    failed = dashboard.search_executions(r, exec_store.ExecutionQuery(
        owner=me, job_id=job_id, status=("failed", "timeout"), from_ms=frm, to_ms=now, limit=300), count=False).items
    runs = dashboard.runs_by_period(r, me, frm, now, period, job_id=job_id)
    job = job_store.get(r, me, job_id)
    found = anomalies.job_anomalies(r, settings(), job, frm, now) if job else []
    return duration_figure(buckets, failed, found), runs_figure(runs)


@callback(
    Output(ids.table, "children"),
    Output(ids.page, "max_value"),
    Output(ids.page, "active_page"),
    Input(ids.id, "data"),
    Input(ids.status, "value"),
    Input(ids.page, "active_page"),
    Input(shell.poll, "n_intervals"),
    Input(shell.live_event, "data"),
)
def refresh_executions(job_id: str, status: str | None, page: int | None, _n, _event):
    if not job_id or not live_event_for(job_id):
        raise PreventUpdate
    page = 1 if ctx.triggered_id == ids.status else max(1, min(int(page or 1), 10_000 // PAGE_SIZE))
    result = dashboard.search_executions(redis(), exec_store.ExecutionQuery(
        owner=owner(), job_id=job_id, status=(status,) if status and status != ANY else (),
        offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE))
    pages = max(1, min(-(-result.total // PAGE_SIZE), 10_000 // PAGE_SIZE))
    return executions_table(result.items, now_ms()), pages, min(page, pages)


# ---- monitoring flips, alert history and the server-side job controls (issue 4) ----------------------------

VIEWER_REFUSED = "Viewers cannot pause, resume or run jobs; ask a member or an administrator."
FLIPS_SHOWN = ALERTS_SHOWN = 50
ALERT_COLORS = {"sent": "success", "failed": "danger", "held": "warning", "test": "info"}


class Refused(Exception):
    """The signed-in user may not do that (or the job cannot); the message says why."""


def flips_table(items: list[dict[str, Any]], now: int) -> Any:
    if not items:
        return html.P("No state changes yet: they appear when a scheduler sees the job run, go late, fail or "
                      "recover.", className="text-body-secondary m-3")
    rows = [html.Tr([
        html.Td(when(f.get("at")), title=time_ago(f.get("at"), now), className="text-nowrap small"),
        html.Td([dbc.Badge(f.get("from") or "—", color="light", text_color="dark"), " → ",
                 dbc.Badge(f.get("to") or "—", color="info")], className="text-nowrap"),
        html.Td(str(f.get("reason") or ""), className="small text-body-secondary text-break"),
    ], className="flip-row") for f in items]
    head = html.Thead(html.Tr([html.Th(h) for h in ("When", "Change", "Reason")]))
    return dbc.Table([head, html.Tbody(rows)], size="sm", className="mb-0 align-middle", responsive=True)


def alerts_table(items: list[dict[str, Any]], now: int) -> Any:
    if not items:
        return html.P("No alerts for this job.", className="text-body-secondary m-3")
    rows = [html.Tr([
        html.Td(when(a.get("at")), title=time_ago(a.get("at"), now), className="text-nowrap small"),
        html.Td(str(a.get("event") or "")),
        html.Td(str(a.get("channelType") or "")),
        html.Td(dbc.Badge(str(a.get("status") or "?"), color=ALERT_COLORS.get(a.get("status"), "light"))),
        html.Td(str(a.get("error") or a.get("reason") or ""), className="small text-body-secondary text-break"),
    ], className="alert-row") for a in items]
    head = html.Thead(html.Tr([html.Th(h) for h in ("When", "Event", "Channel", "Status", "Reason / error")]))
    return dbc.Table([head, html.Tbody(rows)], size="sm", className="mb-0 align-middle", responsive=True)


def controls_state(job: dict[str, Any] | None, user_role: str) -> tuple[bool, dict, dict, bool, bool, bool]:
    """(hidden, pause style, resume style, pause disabled, resume disabled, run disabled) for a job."""
    if job is None or job.get("source") != "server":
        return True, {"display": "none"}, {"display": "none"}, True, True, True
    paused, viewer = job.get("state") == "paused", user_role == "viewer"
    show, hide = {}, {"display": "none"}
    return False, hide if paused else show, show if paused else hide, viewer, viewer, viewer or paused


def job_action(r: Any, me: str, user_role: str, job_id: str, action: str, now: int) -> str:
    """Pause, resume or run a server-side job now; the message for the user. Raises Refused."""
    if user_role == "viewer":
        raise Refused(VIEWER_REFUSED)
    job = job_store.get(r, me, job_id) if job_id else None
    if job is None:
        raise Refused("No such job.")
    if job.get("source") != "server":
        raise Refused("Only server-side jobs are paused and run from here; the SDK runs this one.")
    if action in ("pause", "resume"):
        jobstore.set_paused(r, me, job_id, action == "pause", now)
        return "Paused: no fires until you resume it." if action == "pause" else \
            "Resumed: it fires from now on (no backlog of missed fires)."
    if job.get("state") == "paused":
        raise Refused("The job is paused: resume it first.")
    tid = jobstore.run_now(r, None, job, now)
    text = f"Queued for a scheduler (trigger {tid})."
    if not any(n.get("alive") for n in registry.list_nodes(r)):
        text += " No scheduler is running right now: it runs when one starts."
    return text


@callback(
    Output(job_ops.flips, "children"),
    Output(job_ops.alerts, "children"),
    Input(ids.id, "data"),
    Input(job_ops.changed, "data"),
    Input(shell.poll, "n_intervals"),
    Input(shell.live_event, "data"),
)
def refresh_monitoring(job_id: str, _changed, _n, _event):
    if not job_id or not live_event_for(job_id):
        raise PreventUpdate
    r, me, now = redis(), owner(), now_ms()
    return (flips_table(flips.list_flips(r, me, job_id, limit=FLIPS_SHOWN), now),
            alerts_table(alerts.history(r, me, job_id=job_id, limit=ALERTS_SHOWN), now))


@callback(
    Output(job_ops.controls, "hidden"),
    Output(job_ops.pause, "style"),
    Output(job_ops.resume, "style"),
    Output(job_ops.pause, "disabled"),
    Output(job_ops.resume, "disabled"),
    Output(job_ops.run_now, "disabled"),
    Input(ids.id, "data"),
    Input(job_ops.changed, "data"),
    Input(shell.live_event, "data"),
)
def refresh_controls(job_id: str, _changed, _event):
    if not job_id or not live_event_for(job_id):
        raise PreventUpdate
    me = owner()
    return controls_state(job_store.get(redis(), me, job_id), role())


@callback(
    Output(job_ops.message, "children"),
    Output(job_ops.changed, "data"),
    Input(job_ops.pause, "n_clicks"),
    Input(job_ops.resume, "n_clicks"),
    Input(job_ops.run_now, "n_clicks"),
    State(ids.id, "data"),
    State(job_ops.changed, "data"),
    prevent_initial_call=True,
)
def pause_resume_or_run(_pause, _resume, _run, job_id: str | None, changed: int | None):
    me, user_role = owner(), role()
    actions = {job_ops.pause: "pause", job_ops.resume: "resume", job_ops.run_now: "run"}
    if ctx.triggered_id not in actions or not ctx.triggered or not ctx.triggered[0].get("value"):
        raise PreventUpdate
    try:
        text, color = job_action(redis(), me, user_role, job_id or "", actions[ctx.triggered_id], now_ms()), "success"
    except Refused as exc:
        text, color = str(exc), "warning"
    return (dbc.Alert(text, color=color, dismissable=True, duration=6000, className="py-2", id="job-action-alert"),
            int(changed or 0) + 1)
