"""Analytics callbacks: runs per day/week/month, duration distribution per job, hour x weekday heatmap."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from dash import Input, Output, State, callback, clientside_callback

from callbacks.common import COLORS, base_layout, empty_figure, owner, redis, settings
from chronos import dashboard
from chronos.store import jobs as job_store
from chronos.timeutil import now_ms
from pages._ids import analytics as ids

DAY_MS = 86_400_000
BLUE = [[0, "rgba(13,110,253,0.06)"], [1, "#0d6efd"]]
RED = [[0, "rgba(220,53,69,0.06)"], [1, "#dc3545"]]
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def _days(value: Any) -> int:
    try:
        return max(1, min(int(value), 730))
    except (TypeError, ValueError):
        return 30


def resolve_range(choice: Any, start: str | None, end: str | None, now: int) -> tuple[int, int]:
    """(from, to) in ms: the last N days, or whole UTC days from ``start`` to ``end`` for "custom"."""
    if choice == "custom" and start and end:
        try:
            lo = int(datetime.fromisoformat(start).replace(tzinfo=timezone.utc).timestamp() * 1000)
            hi = int(datetime.fromisoformat(end).replace(tzinfo=timezone.utc).timestamp() * 1000) + DAY_MS - 1
        except ValueError:
            lo = hi = 0
        if 0 < lo <= hi:
            return max(lo, now - 730 * DAY_MS), min(hi, now)
    return now - _days(choice) * DAY_MS, now


def runs_figure(d: dict[str, list[Any]], period: str) -> dict[str, Any]:
    if not any(d["total"]):
        return empty_figure("No runs in this range yet")
    hover = {"day": "%a %d %b %Y", "week": "week of %d %b %Y", "month": "%B %Y"}.get(period, "%d %b %Y")
    return {"data": [
        {"type": "bar", "name": "Success", "x": d["x"], "y": d["success"], "marker": {"color": COLORS["success"]},
         "hovertemplate": "%{y:,}"},
        {"type": "bar", "name": "Failed", "x": d["x"], "y": d["failed"], "marker": {"color": COLORS["failed"]},
         "hovertemplate": "%{y:,}"},
        {"type": "scatter", "mode": "lines+markers", "name": "Total executions", "x": d["x"], "y": d["total"],
         "line": {"color": COLORS["total"], "width": 2}, "hovertemplate": "%{y:,}"},
    ], "layout": base_layout(barmode="stack", xaxis={"type": "date", "hoverformat": hover})}


def totals_text(d: dict[str, list[Any]]) -> str:
    total, ok, bad = sum(d["total"]), sum(d["success"]), sum(d["failed"])
    rate = f"{100 * ok / (ok + bad):.1f}% success" if ok + bad else "no finished runs"
    return f"{total:,} runs · {bad:,} failed · {rate}"


def distribution_figure(rows: list[dict[str, Any]], names: dict[str, str]) -> dict[str, Any]:
    if not rows:
        return empty_figure("No finished runs of these jobs in this range")
    data = []
    for row in rows:
        label = names.get(row["jobId"], row["jobId"])
        data.append({
            "type": "box", "name": label[:40], "x": [label[:40]], "q1": [row["q1"]], "median": [row["median"]],
            "q3": [row["q3"]], "lowerfence": [row["min"]], "upperfence": [row["max"]], "boxpoints": False,
            "marker": {"color": COLORS["p50"]}, "line": {"color": COLORS["p50"]},
            "hovertemplate": (f"{row['n']:,} runs<br>min %{{lowerfence:.0f}} · q1 %{{q1:.0f}} · median "
                              f"%{{median:.0f}} · q3 %{{q3:.0f}} · max %{{upperfence:.0f}} ms<extra></extra>"),
        })
    return {"data": data, "layout": base_layout(showlegend=False, hovermode="closest",
                                                yaxis={"title": {"text": "duration (ms)"}, "type": "log"})}


def heatmap_figure(grids: dict[str, list[list[int]]], metric: str) -> dict[str, Any]:
    runs, fails = grids["runs"], grids["failures"]
    if not any(any(row) for row in runs):
        return empty_figure("No runs in this range yet")
    if metric == "rate":
        z = [[(100.0 * f / n) if n else None for f, n in zip(fr, rr)] for fr, rr in zip(fails, runs)]
        scale, title, fmt = RED, "% failed", "%{z:.1f}%"
    elif metric == "failures":
        z, scale, title, fmt = fails, RED, "failures", "%{z:,}"
    else:
        z, scale, title, fmt = runs, BLUE, "runs", "%{z:,}"
    return {"data": [{"type": "heatmap", "z": z, "x": [f"{h:02d}" for h in range(24)], "y": WEEKDAYS,
                      "colorscale": scale, "colorbar": {"title": {"text": title}, "thickness": 10},
                      "hovertemplate": f"%{{y}} %{{x}}:00 UTC · {fmt}<extra></extra>", "xgap": 1, "ygap": 1}],
            "layout": base_layout(hovermode="closest", xaxis={"title": {"text": "hour (UTC)"}, "showgrid": False},
                                  yaxis={"autorange": "reversed", "showgrid": False, "rangemode": "normal"})}


clientside_callback(
    "function(v){ var off = v !== 'custom'; return [off, off]; }",
    Output(ids.start, "disabled"),
    Output(ids.end, "disabled"),
    Input(ids.range, "value"),
)


@callback(
    Output(ids.runs_chart, "figure"),
    Output(ids.totals, "children"),
    Input(ids.range, "value"),
    Input(ids.period, "value"),
    Input(ids.start, "value"),
    Input(ids.end, "value"),
)
def refresh_runs(days: Any, period: str | None, start: str | None, end: str | None):
    now = now_ms()
    period = period if period in ("day", "week", "month") else "day"
    frm, to = resolve_range(days, start, end, now)
    d = dashboard.runs_by_period(redis(), owner(), frm, to, period)
    return runs_figure(d, period), totals_text(d)


@callback(
    Output(ids.jobs, "options"),
    Output(ids.jobs, "value"),
    Input(ids.range, "id"),
)
def load_jobs(_id: str):
    busiest = dashboard.busiest_jobs(redis(), owner(), limit=25)
    options = [{"label": j["name"], "value": j["id"]} for j in busiest]
    return options, [j["id"] for j in busiest[:6]]


@callback(
    Output(ids.distribution, "figure"),
    Input(ids.jobs, "value"),
    Input(ids.range, "value"),
    Input(ids.start, "value"),
    Input(ids.end, "value"),
    State(ids.jobs, "options"),
)
def refresh_distribution(job_ids: list[str] | None, days: Any, start: str | None, end: str | None,
                         options: list[dict[str, str]] | None):
    job_ids = [j for j in (job_ids or []) if isinstance(j, str)][:20]
    if not job_ids:
        return empty_figure("Pick jobs to compare")
    r, me, now = redis(), owner(), now_ms()
    names = {o["value"]: o["label"] for o in options or []}
    missing = [j for j in job_ids if j not in names]
    if missing:
        names.update({j: str(name) for j, name in job_store.get_many(r, me, missing, "$.name").items()})
    rows = dashboard.duration_distribution(r, me, job_ids, *resolve_range(days, start, end, now))
    return distribution_figure(rows, names)


@callback(
    Output(ids.heatmap, "figure"),
    Input(ids.range, "value"),
    Input(ids.heatmap_metric, "value"),
    Input(ids.start, "value"),
    Input(ids.end, "value"),
)
def refresh_heatmap(days: Any, metric: str | None, start: str | None, end: str | None):
    now = now_ms()
    frm, to = resolve_range(days, start, end, now)
    # The hourly tier keeps CHRONOS_TS_HOURLY_DAYS; a longer range shows what is kept.
    frm = max(frm, now - settings().chronos_ts_hourly_days * DAY_MS)
    grids = dashboard.heatmap(redis(), owner(), frm, max(frm, to))
    return heatmap_figure(grids, metric or "runs")
