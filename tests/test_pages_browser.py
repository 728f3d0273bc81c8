"""Every dashboard page in a real headless Chromium against the live server: signed in through the form,
data seeded through the API, content asserted, the console clean, a screenshot per page."""
from __future__ import annotations

import re
import time

from tests.browser.seed import JOBS, seed
from tests.browser.support import login, open_page, screenshot, settle
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

pytest_plugins = ["tests.browser.fixtures"]  # the browser fixtures, defined once for the session


def test_the_login_page_signs_in_and_the_overview_shows_seeded_runs(api, new_page, r):
    evs = seed(api.post)
    page, console = new_page()
    page.goto("/")
    assert "/login" in page.url  # no session: the gate sends the browser to the form
    page.wait_for_selector("#email")
    screenshot(page, "login")
    login(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    open_page(page, "/", "#overview-feed .feed-row")
    kpis = page.inner_text("#overview-kpis")
    assert "JOBS" in kpis.upper() and str(len(JOBS)) in kpis
    feed = page.inner_text("#overview-feed")
    assert "Send invoices" in feed and "CRM sync" in feed
    assert "Send invoices" in page.inner_text("#overview-failing")  # its last run failed
    page.wait_for_selector("#overview-runs-chart .bars")  # the stacked bars were drawn
    assert page.inner_text("#shell-live-status") in ("live", "connecting", "polling")
    screenshot(page, "overview")
    assert len(evs) > 100
    console.assert_clean()


def test_the_jobs_page_lists_filters_and_links_to_a_job(api, new_page):
    seed(api.post)
    page, console = new_page()
    login(page, ADMIN_EMAIL, ADMIN_PASSWORD, "/jobs")
    open_page(page, "/jobs", "#jobs-table .job-row")
    table = page.inner_text("#jobs-table")
    for text in ("CRM sync", "Every 15 minutes", "Daily at 03:00", "Europe/Berlin", "At 09:30 on Monday to Friday"):
        assert text in table
    assert page.locator("#jobs-table .job-row").count() == len(JOBS)
    assert page.locator("#jobs-table .sparkline .bar.fail").count() >= 3
    screenshot(page, "jobs")

    page.select_option("#jobs-status", "failed")
    page.wait_for_function("() => document.querySelectorAll('#jobs-table .job-row').length === 1")
    assert "Send invoices" in page.inner_text("#jobs-table")
    page.select_option("#jobs-status", "__any__")
    page.wait_for_function(f"() => document.querySelectorAll('#jobs-table .job-row').length === {len(JOBS)}")
    page.fill("#jobs-search", "backup")
    page.wait_for_function("() => document.querySelectorAll('#jobs-table .job-row').length === 1"
                           " && document.getElementById('jobs-table').innerText.includes('Nightly backup')")
    page.click("#jobs-table a:has-text('Nightly backup')")
    page.wait_for_selector("#job-header .job-name")
    assert page.url.endswith("/jobs/nightly-backup")
    console.assert_clean()


def test_the_job_page_shows_definition_charts_and_executions(api, new_page):
    seed(api.post)
    page, console = new_page()
    login(page, ADMIN_EMAIL, ADMIN_PASSWORD, "/jobs/send-invoices")
    open_page(page, "/jobs/send-invoices", "#job-exec-table .exec-row")
    assert page.inner_text("#job-header .job-name") == "Send invoices"
    info = page.inner_text("#job-info")
    assert "At 09:30 on Monday to Friday" in info and "America/New_York" in info and "billing" in info
    assert "75.0%" in page.inner_text("#job-kpis")
    assert "1.0.0" in page.inner_text("#job-versions")
    assert page.locator("#job-exec-table .exec-row").count() == 12
    page.wait_for_selector("#job-duration-chart .scatterlayer .trace")
    page.wait_for_selector("#job-runs-chart .bars")
    screenshot(page, "job")
    page.select_option("#job-exec-status", "failed")
    page.wait_for_function("() => document.querySelectorAll('#job-exec-table .exec-row').length === 3")
    console.assert_clean()


def test_the_execution_page_shows_error_logs_and_code(api, new_page):
    seed(api.post)
    page, console = new_page()
    login(page, ADMIN_EMAIL, ADMIN_PASSWORD, "/executions/send-invoices-000")
    open_page(page, "/executions/send-invoices-000", "#exec-error-message")
    assert "Connection refused by mail.example.com" in page.inner_text("#exec-error-message")
    assert "ConnectionRefusedError" in page.inner_text("#exec-error-type")
    assert "Traceback" in page.inner_text("#exec-error-stack")
    assert "run 0 of send-invoices" in page.inner_text("#exec-stdout")
    assert "smtp: connection refused" in page.inner_text("#exec-stderr")
    assert page.locator("pre.code-block code.language-python").count() == 1
    marked = page.inner_text(".code-line.marked")
    assert "smtplib.SMTP" in marked and marked.strip().startswith("5")  # line 5 of mailer.py failed
    assert "env: prod" in page.inner_text("body")
    with page.expect_download() as info:
        page.click("#exec-download-stdout")
    assert info.value.suggested_filename == "send-invoices-000.stdout.txt"
    screenshot(page, "execution")
    console.assert_clean()


def test_the_explorer_keeps_its_state_in_the_address(api, new_page, live_server):
    seed(api.post)
    page, console = new_page()
    login(page, ADMIN_EMAIL, ADMIN_PASSWORD, "/executions")
    open_page(page, "/executions?q=refused&status=failed", "#explorer-table .explorer-row")
    assert page.locator("#explorer-table .explorer-row").count() == 3
    assert "3 executions" in page.inner_text("#explorer-total")
    screenshot(page, "executions")
    page.fill("#explorer-q", "503")
    page.wait_for_function("() => document.querySelectorAll('#explorer-table .explorer-row').length === 4")
    page.wait_for_function("() => window.location.search.includes('q=503')")
    link = page.url
    assert "status=failed" in link
    # The link reproduces the view in a fresh tab.
    page2, console2 = new_page()
    login(page2, ADMIN_EMAIL, ADMIN_PASSWORD, "/executions")
    open_page(page2, link.replace(live_server, ""), "#explorer-table .explorer-row")
    assert page2.input_value("#explorer-q") == "503"
    assert page2.locator("#explorer-table .explorer-row").count() == 4
    console.assert_clean()
    console2.assert_clean()


def test_the_analytics_page_counts_runs_per_period(api, new_page):
    evs = seed(api.post)
    failed = sum(1 for e in evs if e["status"] == "failed")
    page, console = new_page()
    login(page, ADMIN_EMAIL, ADMIN_PASSWORD, "/analytics")
    open_page(page, "/analytics", "#analytics-runs-chart .bars")
    assert re.search(rf"\b{len(evs)} runs · {failed} failed", page.inner_text("#analytics-totals"))
    page.wait_for_selector("#analytics-heatmap .hm, #analytics-heatmap .heatmaplayer")
    page.wait_for_selector("#analytics-distribution .boxlayer .trace")
    screenshot(page, "analytics")
    page.click("label:has-text('Per month')")
    settle(page)
    assert re.search(rf"\b{len(evs)} runs · {failed} failed", page.inner_text("#analytics-totals"))
    page.select_option("#analytics-range", "custom")
    assert page.is_enabled("#analytics-start")
    page.fill("#analytics-start", time.strftime("%Y-%m-%d", time.gmtime(time.time() - 5 * 86400)))
    page.fill("#analytics-end", time.strftime("%Y-%m-%d", time.gmtime()))
    settle(page)
    assert re.search(rf"\b{len(evs)} runs · {failed} failed", page.inner_text("#analytics-totals"))
    console.assert_clean()


def test_the_settings_page_creates_shows_once_and_revokes_a_key(api, new_page, live_server, r):
    page, console = new_page()
    login(page, ADMIN_EMAIL, ADMIN_PASSWORD, "/settings")
    open_page(page, "/settings", "#settings-sdk-snippet")
    snippet = page.inner_text("#settings-sdk-snippet")
    assert f'endpoint="{live_server}"' in snippet and "chronos_sdk.init" in snippet
    page.fill("#settings-key-name", "billing-worker")
    page.click("#settings-create-key")
    page.wait_for_selector("#settings-new-secret")
    secret = page.inner_text("#settings-new-secret").strip()
    assert secret.startswith("chr_") and secret in page.inner_text("#settings-sdk-snippet")
    assert "billing-worker" in page.inner_text("#settings-keys")
    screenshot(page, "settings")
    # The key works against the API until it is revoked.
    assert api.client.get("/api/jobs", headers={"x-api-key": secret}).status_code == 200
    page.locator(".key-row:has-text('billing-worker') button:has-text('Revoke')").click()
    page.wait_for_selector(".key-row:has-text('billing-worker') >> text=revoked")
    assert api.client.get("/api/jobs", headers={"x-api-key": secret}).status_code == 401
    page.reload()
    page.wait_for_selector("#settings-keys .key-row")
    assert secret not in page.content()  # shown once, never again
    console.assert_clean()


def test_the_admin_page_lists_users_and_system_figures(api, new_page, make_user):
    seed(api.post)
    make_user("member@example.com")
    page, console = new_page()
    login(page, ADMIN_EMAIL, ADMIN_PASSWORD, "/admin")
    open_page(page, "/admin", "#admin-users .user-row")
    users_text = page.inner_text("#admin-users")
    assert ADMIN_EMAIL in users_text and "member@example.com" in users_text
    system = page.inner_text("#admin-system")
    assert "idx:chr:executions" in system and "Redis memory" in system
    assert "Ingest queue" in system and "CHRONOS_INGEST_QUEUE" in system  # the session app records directly
    screenshot(page, "admin")
    row = page.locator(".user-row:has-text('member@example.com')")
    row.locator("select").select_option("viewer")
    page.wait_for_selector("text=Saved.")
    console.assert_clean()


def test_the_profile_page_changes_the_password(api, new_page, make_user):
    make_user("pat@example.com")
    page, console = new_page()
    login(page, "pat@example.com", "password-123", "/profile")
    open_page(page, "/profile", "#profile-info dd")
    assert "pat@example.com" in page.inner_text("#profile-info")
    screenshot(page, "profile")
    page.fill("#profile-current", "wrong-password")
    page.fill("#profile-new", "new-password-456")
    page.fill("#profile-confirm", "new-password-456")
    page.click("#profile-submit")
    page.wait_for_selector("#profile-error")
    page.fill("#profile-current", "password-123")
    page.click("#profile-submit")
    page.wait_for_selector("#profile-ok")
    page.goto("/logout")
    login(page, "pat@example.com", "new-password-456")
    console.assert_clean()


def test_a_new_account_sees_what_to_do_next_and_the_theme_is_remembered(make_user, new_page):
    make_user("fresh@example.com")
    page, console = new_page()
    login(page, "fresh@example.com", "password-123")
    open_page(page, "/", "#overview-feed .empty-state")
    assert "No executions yet" in page.inner_text("#overview-feed")
    page.click("#overview-feed a:has-text('Open Settings')")
    page.wait_for_selector("#settings-sdk-snippet")
    open_page(page, "/jobs", "#jobs-table .empty-state")
    assert "No jobs yet" in page.inner_text("#jobs-table")
    page.click("#shell-theme-toggle")
    page.wait_for_function("() => document.documentElement.getAttribute('data-bs-theme') === 'dark'")
    page.reload()
    page.wait_for_selector("#jobs-table .empty-state")
    assert page.evaluate("() => document.documentElement.getAttribute('data-bs-theme')") == "dark"
    console.assert_clean()


def test_a_cut_log_carries_a_truncation_notice(api, new_page):
    now = 1_700_000_000_000
    run = {"execId": "big-1", "jobId": "chatty", "status": "success", "startedAt": now - 5, "finishedAt": now,
           "durationMs": 5, "stdout": "line\n" * 20_000 + "THE END"}
    assert api.post("/api/ingest/executions/batch", {"executions": [run]}).status_code == 200
    page, console = new_page()
    login(page, ADMIN_EMAIL, ADMIN_PASSWORD, "/executions/big-1")
    open_page(page, "/executions/big-1", "#exec-stdout")
    assert page.locator(".truncation-notice").count() == 1
    assert page.inner_text("#exec-stdout").rstrip().endswith("THE END")  # the tail is kept
    console.assert_clean()
