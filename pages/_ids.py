"""Component ids, one place for all of them."""
from __future__ import annotations


class shell:
    url = "shell-url"
    theme = "shell-theme"
    theme_toggle = "shell-theme-toggle"
    live_event = "shell-live-event"
    live_status = "shell-live-status"
    poll = "shell-poll"


class overview:
    range = "overview-range"
    kpis = "overview-kpis"
    runs_chart = "overview-runs-chart"
    failing = "overview-failing"
    feed = "overview-feed"
