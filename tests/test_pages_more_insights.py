"""The Insights page in a real browser on data seeded through the API: anomalies, error groups with one group's
detail, the load heatmap and a slot suggestion; user text stays text."""
from __future__ import annotations

from callbacks.insights import heatmap_figure, slot_view, window
from tests.browser.seed import seed
from tests.browser.support import SCREENSHOTS, login, open_page
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.test_pages_security import IMG, SCRIPT, seed_hostile

pytest_plugins = ["tests.browser.fixtures"]  # the browser fixtures, defined once for the session


def test_the_insights_page_shows_anomalies_error_groups_heatmap_and_a_slot(api, new_page, live_server):
    seed(api.post)
    page, console = new_page()
    login(page, ADMIN_EMAIL, ADMIN_PASSWORD, "/insights")
    open_page(page, "/insights", "#insights-errors .error-group-row")
    page.wait_for_selector("#insights-anomalies .anomaly-row")
    anomalies = page.inner_text("#insights-anomalies")
    assert "Failure streak" in anomalies and "Send invoices" in anomalies
    groups = page.locator("#insights-errors .error-group-row")
    assert groups.count() == 2
    errors = page.inner_text("#insights-errors")
    assert "ConnectionRefusedError" in errors and "Service Unavailable" in errors
    page.wait_for_selector("#insights-heatmap .heatmaplayer")

    row = page.locator("#insights-errors .error-group-row:has-text('Connection refused')")
    fingerprint = row.get_attribute("data-fp")
    row.locator("button:has-text('Details')").click()
    page.wait_for_selector("#insights-group-title")
    assert "Connection refused" in page.inner_text("#insights-group-title")
    assert "Send invoices" in page.inner_text("#insights-group-jobs")
    assert "Traceback" in page.inner_text("#insights-group-stack")
    assert page.locator("#insights-group-recent li").count() == 3
    page.wait_for_function(f"() => window.location.search.includes('group={fingerprint}')")

    page.click("#insights-slot-job")
    page.keyboard.type("Nightly backup")
    page.get_by_text("Nightly backup (0 3 * * *)").last.click()
    page.wait_for_selector("#insights-slot-result")
    assert "0 3 * * *" in page.inner_text("#insights-slot-result")  # "current … → suggested …" or "keep …"
    page.screenshot(path=str(SCREENSHOTS / "insights.png"), full_page=True)

    # The link reproduces the picked group in a fresh tab.
    link = page.url.replace(live_server, "")
    page2, console2 = new_page()
    login(page2, ADMIN_EMAIL, ADMIN_PASSWORD, "/insights")
    open_page(page2, link, "#insights-group-title")
    assert "Connection refused" in page2.inner_text("#insights-group-title")
    console.assert_clean()
    console2.assert_clean()


def test_hostile_error_text_renders_as_text_on_the_insights_page(api, new_page):
    seed_hostile(api)
    page, console = new_page()
    login(page, ADMIN_EMAIL, ADMIN_PASSWORD, "/insights")
    open_page(page, "/insights", "#insights-errors .error-group-row")
    page.click("#insights-errors button:has-text('Details')")
    page.wait_for_selector("#insights-group-stack")
    body = page.inner_text("body")
    assert IMG in body or SCRIPT in body
    assert page.locator("img[src='x']").count() == 0
    assert page.evaluate("() => [...document.scripts].some(s => s.textContent.includes('alert(1)'))") is False
    page.wait_for_timeout(300)
    console.assert_clean()


def test_the_insights_helpers_pick_windows_and_draw_grids():
    assert window("24", 100 * 3_600_000) == (76 * 3_600_000, 100 * 3_600_000)
    assert window("bogus", 1_000_000_000) == (1_000_000_000 - 168 * 3_600_000, 1_000_000_000)
    empty = {"all": {"runs": [[0] * 24] * 7}, "hours": list(range(24)), "weekdays": ["Mon"] * 7, "tz": "UTC"}
    assert heatmap_figure(empty, "runs")["data"] == []
    grid = [[0] * 24 for _ in range(7)]
    grid[0][3] = 120_000
    busy = {"all": {"runs": grid, "busyMs": grid}, "hours": list(range(24)), "weekdays": ["Mon"] * 7, "tz": "UTC"}
    assert heatmap_figure(busy, "busyMs")["data"][0]["z"][0][3] == 2.0
    assert "more than once an hour" in str(slot_view({"applicable": False,
                                                      "reason": "it runs more than once an hour"}))
