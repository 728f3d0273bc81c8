"""Component ids, one place for all of them (dict ids for repeated widgets are built here too)."""
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


class jobs:
    search = "jobs-search"
    status = "jobs-status"
    tag = "jobs-tag"
    app = "jobs-app"
    sort = "jobs-sort"
    page = "jobs-page"
    page_size = "jobs-page-size"
    table = "jobs-table"
    total = "jobs-total"


class job:
    id = "job-id"            # dcc.Store with the job id of the page
    header = "job-header"
    info = "job-info"
    kpis = "job-kpis"
    range = "job-range"
    duration_chart = "job-duration-chart"
    runs_chart = "job-runs-chart"
    versions = "job-versions"
    status = "job-exec-status"
    page = "job-exec-page"
    table = "job-exec-table"


class execution:
    id = "exec-id"
    body = "exec-body"
    download_stdout = "exec-download-stdout"
    download_stderr = "exec-download-stderr"
    download = "exec-download"


class explorer:
    q = "explorer-q"
    job = "explorer-job"
    status = "explorer-status"
    range = "explorer-range"
    page = "explorer-page"
    table = "explorer-table"
    total = "explorer-total"
    query_string = "explorer-query-string"
    sync = "explorer-sync"


class analytics:
    range = "analytics-range"
    start = "analytics-start"
    end = "analytics-end"
    period = "analytics-period"
    runs_chart = "analytics-runs-chart"
    totals = "analytics-totals"
    jobs = "analytics-jobs"
    distribution = "analytics-distribution"
    heatmap_metric = "analytics-heatmap-metric"
    heatmap = "analytics-heatmap"


class settings:
    key_name = "settings-key-name"
    key_scopes = "settings-key-scopes"
    create = "settings-create-key"
    created = "settings-created-key"
    keys = "settings-keys"
    message = "settings-message"
    snippet = "settings-snippet"

    @staticmethod
    def revoke(key_id: str) -> dict[str, str]:
        return {"type": "settings-revoke", "key": key_id}


class admin:
    users = "admin-users"
    system = "admin-system"
    rate_chart = "admin-rate-chart"
    message = "admin-message"
    refresh = "admin-refresh"

    @staticmethod
    def role(user_id: str) -> dict[str, str]:
        return {"type": "admin-role", "user": user_id}

    @staticmethod
    def disable(user_id: str) -> dict[str, str]:
        return {"type": "admin-disable", "user": user_id}


class profile:
    info = "profile-info"
    current = "profile-current"
    new = "profile-new"
    confirm = "profile-confirm"
    submit = "profile-submit"
    message = "profile-message"

