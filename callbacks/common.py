"""What every callback needs: the signed-in user, the store, one plot theme for every chart."""
from __future__ import annotations

from typing import Any

from dash import ctx
from dash.exceptions import PreventUpdate
from flask_login import current_user

from chronos.db import store
from pages._ids import shell


def owner() -> str:
    """The signed-in user's id. The session gate answers 401 before any callback runs without a session;
    this is the second lock."""
    if not current_user.is_authenticated:
        raise PreventUpdate
    return current_user.id


def role() -> str:
    owner()
    return current_user.role


def redis():
    return store.client


def settings():
    return store.settings


def live_event_for(job_id: str | None = None) -> bool:
    """False when this run was triggered by a live event that does not concern ``job_id`` (skip the work)."""
    if ctx.triggered_id != shell.live_event:
        return True
    event = ctx.triggered[0].get("value") if ctx.triggered else None
    if job_id is None or not isinstance(event, dict):
        return True
    return event.get("jobId") == job_id


COLORS = {"success": "#198754", "failed": "#dc3545", "timeout": "#fd7e14", "cancelled": "#6c757d",
          "running": "#0d6efd", "total": "#6f42c1", "p50": "#0d6efd", "p95": "#fd7e14", "max": "#adb5bd"}

# One theme for every chart, readable on the light and the dark page alike (transparent background,
# mid-grey text and grid), so no figure depends on the theme switch.
_FG = "#8a929a"
_GRID = "rgba(138,146,154,0.18)"


def base_layout(**extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"color": _FG, "family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
        "margin": {"l": 48, "r": 12, "t": 10, "b": 36},
        "xaxis": {"gridcolor": _GRID, "linecolor": _GRID, "zerolinecolor": _GRID},
        "yaxis": {"gridcolor": _GRID, "linecolor": _GRID, "zerolinecolor": _GRID, "rangemode": "tozero"},
        "legend": {"orientation": "h", "y": -0.18, "x": 0},
        "hovermode": "x unified",
        "hoverlabel": {"bgcolor": "#212529", "font": {"color": "#f8f9fa"}},
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(layout.get(key), dict):
            layout[key] = {**layout[key], **value}
        else:
            layout[key] = value
    return layout


def empty_figure(text: str) -> dict[str, Any]:
    """A blank chart that says why it is blank."""
    return {"data": [], "layout": base_layout(
        xaxis={"visible": False}, yaxis={"visible": False},
        annotations=[{"text": text, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
                      "font": {"size": 14, "color": _FG}}])}
