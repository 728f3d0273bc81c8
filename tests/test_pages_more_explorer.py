"""The Explorer page for data teams in a real browser: a chart built from the controls, its state in the address,
and downloads that equal what ``GET /api/analytics/query`` answers for the same parameters."""
from __future__ import annotations

import json
from pathlib import Path

from callbacks.explorer import figure, series
from pages._query import api_params, parse_state, query_string, window
from tests.browser.seed import seed
from tests.browser.support import login, open_page, screenshot
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

pytest_plugins = ["tests.browser.fixtures"]  # the browser fixtures, defined once for the session


def test_the_explorer_builds_a_chart_and_its_csv_equals_the_api_answer(api, new_page, live_server):
    evs = seed(api.post)
    page, console = new_page()
    login(page, ADMIN_EMAIL, ADMIN_PASSWORD, "/explorer")
    open_page(page, "/explorer", "#dx-summary-text")
    page.select_option("#dx-group-by", "job")
    page.select_option("#dx-bucket", "1d")
    page.select_option("#dx-range", "7d")
    page.click("label:has-text('Stacked bars')")
    page.wait_for_function("() => window.location.search.includes('chart=stacked')")
    page.wait_for_selector("#dx-graph .bars")
    assert "5 series" in page.inner_text("#dx-summary-text")
    for part in ("groupBy=job", "bucket=1d", "range=7d", "chart=stacked"):
        assert part in page.url
    table = page.inner_text("#dx-table")
    assert "sync-crm" in table and "send-invoices" in table
    screenshot(page, "explorer")

    path = page.inner_text("#dx-api-path")
    assert path.startswith("/api/analytics/query?metric=runs&groupBy=job&bucket=1d&from=") and "format=csv" in path
    with page.expect_download() as info:
        page.click("#dx-download-csv")
    assert info.value.suggested_filename == "chronos-runs-1d.csv"
    downloaded = Path(info.value.path()).read_text()
    answer = api.get(path)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
    assert downloaded == answer.get_data(as_text=True)
    assert sum(int(line.rsplit(",", 1)[1]) for line in downloaded.splitlines()[1:]) == len(evs)

    with page.expect_download() as info:
        page.click("#dx-download-json")
    assert json.loads(Path(info.value.path()).read_text()) == api.get(path.replace("format=csv", "format=json")) \
        .get_json()

    # The link reproduces the chart in a fresh tab.
    link = page.url.replace(live_server, "")
    page2, console2 = new_page()
    login(page2, ADMIN_EMAIL, ADMIN_PASSWORD, "/explorer")
    open_page(page2, link, "#dx-graph .bars")
    assert page2.input_value("#dx-group-by") == "job" and page2.input_value("#dx-bucket") == "1d"
    assert page2.is_checked("#dx-chart input[value='stacked']") or "active" in \
        page2.get_attribute("label:has-text('Stacked bars')", "class")
    console.assert_clean()
    console2.assert_clean()


def test_the_explorer_draws_every_chart_type_and_explains_bad_input(api, new_page):
    seed(api.post)
    page, console = new_page()
    login(page, ADMIN_EMAIL, ADMIN_PASSWORD, "/explorer")
    open_page(page, "/explorer?metric=duration_p95&groupBy=job&bucket=6h&range=7d", "#dx-graph .scatterlayer .trace")
    for label, layer in (("Heatmap", ".heatmaplayer"), ("Box", ".boxlayer .trace"), ("Bars", ".bars")):
        page.click(f"label:has-text('{label}')")
        page.wait_for_selector(f"#dx-graph {layer}")
    page.select_option("#dx-metric", "metadata")
    page.wait_for_selector("#dx-error-text")
    assert "metadata field" in page.inner_text("#dx-error-text")
    assert page.is_enabled("#dx-field") and page.is_enabled("#dx-stat")
    page.fill("#dx-field", "bad name!")
    page.press("#dx-field", "Enter")
    page.wait_for_selector("#dx-error-text:has-text('metadata.<name>')")
    page.select_option("#dx-metric", "runs")
    page.wait_for_selector("#dx-summary-text")
    assert page.is_disabled("#dx-field")
    console.assert_clean()


def test_the_explorer_state_round_trips_and_resolves_to_api_parameters():
    state = parse_state({"metric": "metadata.rows", "stat": "p95", "groupBy": "job", "bucket": "1d",
                         "range": "custom", "from": "2026-01-01", "to": "2026-01-07", "status": "failed,bogus",
                         "chart": "box", "label": "env:prod"})
    assert state["metric"] == "metadata" and state["field"] == "rows" and state["status"] == ["failed"]
    qs = query_string(state)
    from urllib.parse import parse_qs
    assert parse_state({k: v[0] for k, v in parse_qs(qs[1:]).items()}) == state
    params = api_params(state, now=0)
    assert params == {"metric": "metadata.rows", "stat": "p95", "groupBy": "job", "bucket": "1d",
                      "from": "2026-01-01T00:00:00.000Z", "to": "2026-01-07T23:59:59.999Z", "label": "env:prod",
                      "status": "failed"}
    assert query_string(parse_state({})) == ""
    assert parse_state({"metric": "<script>", "bucket": "2d", "chart": ["line", "x"]})["metric"] == "runs"
    assert window(parse_state({"range": "1h"}), 10_000_000) == (10_000_000 - 3_600_000, 10_000_000)
    rows = [{"bucket": "b1", "group": "", "value": 1}, {"bucket": "b1", "group": "a", "value": None}]
    groups, left = series(rows)
    assert set(groups) == {"(none)", "a"} and left == 0
    result = {"rows": rows, "metric": "success_rate", "bucket": "1h"}
    assert figure(result, "line")["layout"]["yaxis"]["tickformat"] == ".0%"
    assert figure(result, "heatmap")["data"][0]["z"] == [[1], [None]]
