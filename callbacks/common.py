"""What every callback needs: the signed-in owner, the store, a consistent plot theme."""
from __future__ import annotations

from typing import Any

from dash.exceptions import PreventUpdate
from flask_login import current_user

from chronos.db import store


def owner() -> str:
    """The signed-in user's id; callbacks never run without a session (the gate answers 401)."""
    if not current_user.is_authenticated:
        raise PreventUpdate
    return current_user.id


def redis():
    return store.client


def settings():
    return store.settings


COLORS = {"success": "#198754", "failed": "#dc3545", "timeout": "#fd7e14", "cancelled": "#6c757d",
          "running": "#0d6efd", "total": "#6f42c1"}


def base_layout(theme: str | None = "light", **extra: Any) -> dict[str, Any]:
    dark = theme == "dark"
    fg = "#dee2e6" if dark else "#212529"
    grid = "rgba(255,255,255,0.1)" if dark else "rgba(0,0,0,0.08)"
    layout = {
        "template": "plotly_dark" if dark else "plotly_white",
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"color": fg, "family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"},
        "margin": {"l": 40, "r": 10, "t": 10, "b": 30},
        "xaxis": {"gridcolor": grid}, "yaxis": {"gridcolor": grid, "rangemode": "tozero"},
        "legend": {"orientation": "h", "y": -0.15},
        "hovermode": "x unified",
    }
    layout.update(extra)
    return layout
