"""The dashboard's pure functions and query helpers, without a browser."""
from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from callbacks.admin import pending_changes, queue_text
from callbacks.analytics import heatmap_figure, runs_figure, totals_text
from callbacks.execution import snippet_lines
from callbacks.profile import password_problem
from callbacks.settings import Refused, check_may_manage, sdk_snippet
from chronos import dashboard
from chronos.store import metrics
from pages._cron import describe_cron
from pages._format import duration, job_href, percent, success_rate, time_ago
from pages._explorer import parse_state, query_string
from tests.browser.seed import seed

DAY = 86_400_000


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp() * 1000)


# ---- formatting -----------------------------------------------------------------------------------

@pytest.mark.parametrize("expr,words", [
    ("*/15 * * * *", "Every 15 minutes"), ("0 3 * * *", "Daily at 03:00"), ("@hourly", "Every hour"),
    ("30 9 * * 1-5", "At 09:30 on Monday to Friday"), ("0 8 * * mon", "At 08:00 on Monday"),
    ("0 0 1 * *", "At 00:00 on the 1st of the month"), ("5 * * * *", "Every hour at minute 5"),
    ("0 */6 * * *", "Every 6 hours"), ("0 12 * 1,7 *", "At 12:00 in January and July"),
    ("*/10 * * * * *", "Every 10 seconds"), ("1-5/2 * * * *", "1-5/2 * * * *"), (None, "No schedule"),
])
def test_it_describes_cron_schedules_in_words(expr, words):
    assert describe_cron(expr) == words


def test_it_formats_durations_times_and_rates():
    assert [duration(x) for x in (None, 950, 1500, 61_000, 3_700_000)] == ["—", "950 ms", "1.5 s", "1m 01s", "1h 01m"]
    assert time_ago(1_000, now_ms=61_000) == "1m ago" and time_ago(90_000, now_ms=0) == "in 1m"
    assert percent(1, 0) == "—" and percent(1, 4) == "25.0%"
    assert success_rate({"totalRuns": 10, "totalFailures": 1}) == "90.0%"
    assert job_href("team/a b?") == "/jobs/team%2Fa%20b%3F"


# ---- explorer state ---------------------------------------------------------------------------------

def test_the_explorer_state_survives_a_round_trip_through_the_query_string():
    state = parse_state("disk full", "nightly", "failed,timeout", "24", "3")
    assert state == {"q": "disk full", "job": "nightly", "status": ["failed", "timeout"], "range": "24", "page": 3}
    qs = query_string(state)
    assert qs == "?q=disk+full&job=nightly&status=failed%2Ctimeout&range=24&page=3"
    from urllib.parse import parse_qs
    back = {k: v[0] for k, v in parse_qs(qs[1:]).items()}
    assert parse_state(**back) == state


def test_the_explorer_ignores_bad_query_values():
    state = parse_state(["a"], 3, "bogus,failed", "forever", "x")
    assert state == {"q": "", "job": "", "status": ["failed"], "range": "168", "page": 1}
    assert query_string(parse_state()) == ""


# ---- execution page -------------------------------------------------------------------------------

def test_it_places_the_failing_line_of_a_python_traceback_in_the_snippet():
    doc = {"codeSnippet": "import x\n\ndef f():\n    return 1 / 0\n",
           "errorStack": 'Traceback (most recent call last):\n  File "/app/m.py", line 40, in f\n    return 1 / 0\n'
                         "ZeroDivisionError: division by zero\n"}
    assert snippet_lines(doc) == (37, 40)
    assert snippet_lines({"codeSnippet": "a\nb\n", "errorStack": "no frames"}) == (1, None)
    assert snippet_lines({"codeSnippet": "a", "extra": {"codeFirstLine": 10, "codeErrorLine": 12}}) == (10, 12)


# ---- settings, admin, profile ---------------------------------------------------------------------------

def test_viewers_may_not_manage_keys_and_members_may_not_mint_admin_keys():
    with pytest.raises(Refused, match="Viewers"):
        check_may_manage("viewer")
    with pytest.raises(Refused, match="administrators"):
        check_may_manage("member", ["ingest", "admin"])
    check_may_manage("member", ["ingest"])
    check_may_manage("admin", ["admin"])


def test_the_sdk_snippet_names_this_server_and_the_new_key():
    text = sdk_snippet("https://chronos.example.com", "chr_abc")
    assert 'endpoint="https://chronos.example.com"' in text and 'api_key="chr_abc"' in text
    assert "YOUR_API_KEY" in sdk_snippet("http://x", None)


def test_admin_changes_skip_redraws_and_refuse_changing_oneself():
    by_id = {"u1": {"id": "u1", "role": "admin", "disabled": False},
             "u2": {"id": "u2", "role": "member", "disabled": False}}
    redraw = [{"prop_id": '{"type":"admin-role","user":"u2"}.value', "value": "member"},
              {"prop_id": '{"type":"admin-disable","user":"u2"}.value', "value": False}]
    assert pending_changes(redraw, by_id, "u1") == ([], [])
    change = [{"prop_id": '{"type":"admin-role","user":"u2"}.value', "value": "viewer"}]
    assert pending_changes(change, by_id, "u1") == ([("u2", {"role": "viewer"})], [])
    mine = [{"prop_id": '{"type":"admin-disable","user":"u1"}.value', "value": True}]
    changes, refused = pending_changes(mine, by_id, "u1")
    assert changes == [] and refused


def test_password_changes_are_checked():
    user = {"id": "u"}
    ok = lambda e, p: user if p == "old-password" else None  # noqa: E731
    assert "wrong" in password_problem(user, "e", "nope-nope", "new-password", "new-password", ok)
    assert "differ" in password_problem(user, "e", "old-password", "new-password", "other-password", ok)
    assert "8 characters" in password_problem(user, "e", "old-password", "short", "short", ok)
    assert password_problem(user, "e", "old-password", "new-password", "new-password", ok) is None


# ---- time buckets ----------------------------------------------------------------------------------------

def test_periods_start_on_utc_days_mondays_and_first_of_month():
    t = ms(2024, 6, 13, 15, 30)  # a Thursday
    assert dashboard.period_start(t, "hour") == ms(2024, 6, 13, 15)
    assert dashboard.period_start(t, "day") == ms(2024, 6, 13)
    assert dashboard.period_start(t, "week") == ms(2024, 6, 10)
    assert dashboard.period_start(t, "month") == ms(2024, 6, 1)
    days = [[ms(2024, 5, 30) + i * DAY, 1] for i in range(5)]  # 30 May .. 3 June
    assert dashboard.regroup(days, "month") == [[ms(2024, 5, 1), 2], [ms(2024, 6, 1), 3]]


def test_chart_helpers_show_correct_totals():
    d = {"x": [1, 2], "success": [3, 4], "failed": [1, 0], "total": [5, 4]}
    assert totals_text(d) == "9 runs · 1 failed · 87.5% success"
    fig = runs_figure(d, "day")
    assert [t["name"] for t in fig["data"]] == ["Success", "Failed", "Total executions"]
    assert fig["layout"]["barmode"] == "stack"
    grid = {"runs": [[0] * 24 for _ in range(7)], "failures": [[0] * 24 for _ in range(7)]}
    grid["runs"][0][3], grid["failures"][0][3] = 4, 1
    assert heatmap_figure(grid, "rate")["data"][0]["z"][0][3] == 25.0


# ---- queries against Redis ----------------------------------------------------------------------------------

@pytest.fixture
def seeded(api, r):
    evs = seed(api.post)
    owner = r.get("chr:user:email:admin@example.com").decode()
    return owner, evs


def test_runs_by_period_counts_every_run_once_whatever_the_period(r, seeded):
    owner, evs = seeded
    now = int(time.time() * 1000)
    failed = sum(1 for e in evs if e["status"] == "failed")
    for period in ("hour", "day", "week", "month"):
        d = dashboard.runs_by_period(r, owner, now - 40 * DAY, now, period)
        assert sum(d["total"]) == len(evs), period
        assert sum(d["failed"]) == failed and sum(d["success"]) == len(evs) - failed, period
    one = dashboard.runs_by_period(r, owner, now - 7 * DAY, now, "day", job_id="send-invoices")
    assert sum(one["total"]) == 12 and sum(one["failed"]) == 3


def test_the_heatmap_and_duration_buckets_add_up(r, seeded):
    owner, evs = seeded
    now = int(time.time() * 1000)
    grids = dashboard.heatmap(r, owner, now - 7 * DAY, now)
    assert sum(map(sum, grids["runs"])) == len(evs)
    assert sum(map(sum, grids["failures"])) == sum(1 for e in evs if e["status"] == "failed")
    buckets = dashboard.duration_buckets(r, owner, "sync-crm", now - 7 * DAY, now, 3_600_000)
    assert sum(b["n"] for b in buckets) == 90
    assert all(b["p50"] <= b["p95"] <= b["max"] for b in buckets)


def test_job_helpers_read_the_last_runs_facets_versions_and_distribution(r, seeded):
    owner, evs = seeded
    runs = dashboard.recent_runs(r, owner, ["send-invoices", "nope"], n=5)
    assert [x["status"] for x in runs["send-invoices"]][-3:] == ["failed", "failed", "failed"]
    assert runs["nope"] == []
    assert dict(dashboard.facet_values(r, owner, "appId")) == {"billing": 2, "ops": 2, "crm": 1}
    assert dashboard.busiest_jobs(r, owner, 2)[0]["id"] == "sync-crm"
    assert dashboard.job_versions(r, owner, "sync-crm")[0]["runs"] == 90
    now = int(time.time() * 1000)
    dist = dashboard.duration_distribution(r, owner, ["cleanup-tmp", "sync-crm"], now - 7 * DAY, now)
    assert [d["jobId"] for d in dist] == ["cleanup-tmp", "sync-crm"]
    assert all(d["min"] <= d["q1"] <= d["median"] <= d["q3"] <= d["max"] for d in dist)


def test_system_figures_count_documents(r, seeded):
    owner, evs = seeded
    stats = dashboard.system_stats(r)
    docs = {ix["name"]: ix["docs"] for ix in stats["indexes"]}
    assert docs["idx:chr:executions"] == len(evs) and docs["idx:chr:jobs"] == 5
    assert stats["users"] == 1 and stats["keys"] > len(evs)
    assert len(dashboard.ingest_rate(r, int(time.time() * 1000))) == 60


def test_the_highlighter_cuts_lines_into_tokens_and_keeps_every_character():
    from pages._highlight import highlight_line, language

    line = 'def send(x):  # "why" <b>'
    pieces = highlight_line(line, language("py"))
    assert "".join(t for t, _ in pieces) == line
    assert ("def", "kw") in pieces and ("send", "fn") in pieces and ('# "why" <b>', "com") in pieces
    assert highlight_line("<img src=x onerror=alert(1)>", language("html")) == [("<img src=x onerror=alert(1)>", None)]
    assert language("TypeScript") == "javascript" and language("cobol") is None


def test_the_quick_execution_search_pages_newest_first_with_an_exact_total(r, seeded):
    from chronos.store import executions as exec_store

    owner, evs = seeded
    q = exec_store.ExecutionQuery(owner=owner, status=("failed",), limit=2, offset=1)
    page = dashboard.search_executions(r, q)
    store_page = exec_store.search_executions(r, q)
    assert page.total == store_page.total == sum(1 for e in evs if e["status"] == "failed")
    assert [e["execId"] for e in page.items] == [e["execId"] for e in store_page.items]
    assert page.items[0]["labels"] == {"env": "prod"} and isinstance(page.items[0]["startedAt"], int)
    assert dashboard.search_executions(r, q, count=False).total == 3  # offset + items


def test_duration_quantiles_are_exact_when_small_and_sampled_when_large(r, seeded):
    owner, evs = seeded
    now = int(time.time() * 1000)
    exact = metrics.duration_quantiles(r, owner, now - 3 * DAY, now, runs=len(evs))
    assert exact["max"] == max(e["durationMs"] for e in evs)
    sampled = metrics.duration_quantiles(r, owner, now - 3 * DAY, now, runs=len(evs), max_rows=40, slices=12)
    assert sampled["p50"] is not None and sampled["p50"] <= sampled["p95"] <= exact["max"]


def test_the_overview_summary_and_the_jobs_page_read_the_seeded_data(r, seeded, app):
    from callbacks.jobs import jobs_page

    owner, evs = seeded
    now = int(time.time() * 1000)
    s = dashboard.summary(r, app.extensions["chronos"].settings, owner, now - 3 * DAY, now, now)
    assert s["runs"] == len(evs) and s["jobs"] == 5 and s["failingJobs"] == 1 and s["lateJobs"] == 0
    table, pages, total = jobs_page(r, owner, q="", status="", tag="", app="billing", sort="name", page=1, size=1,
                                    now=now)
    assert (pages, total) == (2, "2 jobs")
    _, pages, total = jobs_page(r, owner, q="zzz", status="", tag="", app="", sort="name", page=1, size=25, now=now)
    assert total == "0 jobs"


def test_the_analytics_range_is_the_last_days_or_whole_custom_days():
    from callbacks.analytics import resolve_range

    now = ms(2024, 6, 13, 12)
    assert resolve_range("7", None, None, now) == (now - 7 * DAY, now)
    assert resolve_range("custom", "2024-06-01", "2024-06-02", now) == (ms(2024, 6, 1), ms(2024, 6, 3) - 1)
    assert resolve_range("custom", "2024-06-10", "2024-07-30", now) == (ms(2024, 6, 10), now)
    assert resolve_range("custom", "bad", "2024-06-02", now) == (now - 30 * DAY, now)
    assert resolve_range("custom", "2024-06-05", "2024-06-01", now) == (now - 30 * DAY, now)


def test_every_page_layout_builds_with_and_without_query_values(app):
    import dash

    pages = {p["module"]: p for p in dash.page_registry.values()}
    assert {"pages.overview", "pages.jobs", "pages.job", "pages.execution", "pages.executions", "pages.analytics",
            "pages.settings", "pages.admin", "pages.profile"} <= set(pages)
    for page in pages.values():
        assert page["layout"]() is not None
        assert page["layout"](q=["a", "b"], status="failed", job_id="a%2Fb", exec_id="x", unknown="1") is not None
    with app.test_request_context("/"):
        from pages._components import create_shell

        assert create_shell() is not None


def test_the_duration_chart_marks_anomalies_and_skips_other_kinds():
    from callbacks.job import duration_figure
    from chronos.insights.anomalies import Anomaly

    buckets = [{"t": 1_000, "p50": 100, "p95": 150, "max": 200}]
    slow = Anomaly(kind="too_slow", job_id="j", job_name="J", at=5_000, score=2.0, direction="up",
                   reason="3.1x slower than usual", exec_id="e1", value=900.0, expected=100.0)
    spike = Anomaly(kind="failure_spike", job_id="j", job_name="J", at=6_000, score=1.5, direction="up",
                    reason="more failures", value=0.4)
    fig = duration_figure(buckets, [], [slow, spike])
    marks = [t for t in fig["data"] if t["name"] == "Anomaly"]
    assert len(marks) == 1 and marks[0]["x"] == [5_000] and marks[0]["y"] == [900.0]
    assert marks[0]["text"] == ["3.1x slower than usual"]
    assert not [t for t in duration_figure(buckets, []).get("data", []) if t["name"] == "Anomaly"]


def test_the_admin_page_says_whether_ingestion_is_queued_and_what_was_set_aside():
    assert queue_text({"enabled": False, "batches": 0, "oldestMs": 0, "dead": 0}).startswith("off")
    assert queue_text({"enabled": True, "batches": 0, "oldestMs": 0, "dead": 0}) == "0 batch(es) waiting"
    busy = queue_text({"enabled": True, "batches": 1200, "oldestMs": 2500, "dead": 3})
    assert busy == "1,200 batch(es) waiting, oldest 2.5 s · 3 dead-lettered (see `chronos ingest-queue dead`)"
    # Switched off with batches still queued or set aside: the figures, not "off".
    assert queue_text({"enabled": False, "batches": 0, "oldestMs": 0, "dead": 1}).startswith("0 batch(es)")
