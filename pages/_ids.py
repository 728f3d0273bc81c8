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



class batches:
    state = "batches-state"          # the list's state filter
    total = "batches-total"
    list = "batches-list"
    tick = "batches-tick"            # dcc.Interval, on while a listed batch is queued or running
    selected = "batches-selected"    # dcc.Store with the selected batch id (from ?batch=)
    detail = "batches-detail"
    detail_row = "batches-selected-row"  # the histogram and failed-records row (hidden until a batch is picked)
    histogram = "batches-histogram"
    failed = "batches-failed"
    retry = "batches-retry"
    cancel = "batches-cancel"
    message = "batches-message"
    changed = "batches-changed"      # dcc.Store bumped after a retry or cancel (redraws list and detail)


class job_ops:
    """Additions to the job page: monitoring flips, alert history and the server-side job controls."""
    controls = "job-controls"
    pause = "job-pause"
    resume = "job-resume"
    run_now = "job-run-now"
    message = "job-action-message"
    changed = "job-action-changed"
    flips = "job-flips"
    alerts = "job-alerts"


class job_new:
    template = "job-new-template"
    name = "job-new-name"
    job_id = "job-new-id"
    schedule = "job-new-schedule"
    timezone = "job-new-timezone"
    type = "job-new-type"
    http = "job-new-http"            # the target fields of each type (shown for the chosen type)
    shell = "job-new-shell"
    email = "job-new-email"
    url = "job-new-url"
    method = "job-new-method"
    body = "job-new-body"
    timeout = "job-new-timeout"
    command = "job-new-command"
    cwd = "job-new-cwd"
    to = "job-new-to"
    subject = "job-new-subject"
    email_body = "job-new-email-body"
    strategy = "job-new-strategy"
    max_retries = "job-new-max-retries"
    base_delay = "job-new-base-delay"
    paused = "job-new-paused"
    dry_run = "job-new-dry-run"
    create = "job-new-create"
    result = "job-new-result"


class insights:
    range = "insights-range"
    anomalies = "insights-anomalies"
    errors = "insights-errors"
    group = "insights-group"         # dcc.Store: the fingerprint picked in the errors table
    group_detail = "insights-group-detail"
    tz = "insights-tz"
    heat_metric = "insights-heat-metric"
    heatmap = "insights-heatmap"
    slot_job = "insights-slot-job"
    slot = "insights-slot"

    @staticmethod
    def pick(fingerprint: str) -> dict[str, str]:
        return {"type": "insights-pick", "fp": fingerprint}


class data_explorer:
    metric = "dx-metric"
    stat = "dx-stat"
    group_by = "dx-group-by"
    bucket = "dx-bucket"
    range = "dx-range"
    start = "dx-from"
    end = "dx-to"
    job = "dx-job"
    status = "dx-status"
    app = "dx-app"
    label = "dx-label"
    host = "dx-host"
    chart = "dx-chart"
    graph = "dx-graph"
    table = "dx-table"
    summary = "dx-summary"
    api_link = "dx-api-link"
    sync = "dx-sync"                 # dcc.Store: the page's query string (kept in the address bar)
    params = "dx-params"             # dcc.Store: the API parameters of the chart shown (explicit from/to)
    error = "dx-error"
    field = "dx-field"
    download_csv = "dx-download-csv"
    download_json = "dx-download-json"
    download = "dx-download"


class admin_sched:
    nodes = "admin-scheduler-nodes"
