"""The data explorer's state, its query-string form and the ``/api/analytics/query`` parameters it stands for
(shared by the page and its callbacks). No Redis here.

The address bar keeps the state (``?metric=duration_p95&groupBy=job&bucket=1d&range=7d&chart=stacked``); the
parameters resolve a relative range to explicit ``from``/``to`` instants, so the chart, the downloads and the
API link shown on the page all answer the same question.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Mapping
from urllib.parse import urlencode

from chronos.insights.query import STATS
from chronos.telemetry import STATUSES
from chronos.timeutil import to_iso

METRIC_LABELS = {"runs": "Runs", "failures": "Failures (failed + timeout)", "success_rate": "Success rate",
                 "duration_avg": "Duration, average", "duration_p50": "Duration, p50",
                 "duration_p95": "Duration, p95", "duration_max": "Duration, max",
                 "metadata": "A metadata field…"}
GROUP_LABELS = {"": "Nothing (one series)", "job": "Job", "app": "App", "status": "Status", "label": "Label",
                "host": "Host", "version": "Job version", "errorGroup": "Error group"}
BUCKET_LABELS = {"1m": "1 minute", "5m": "5 minutes", "15m": "15 minutes", "30m": "30 minutes", "1h": "1 hour",
                 "6h": "6 hours", "12h": "12 hours", "1d": "1 day", "1w": "1 week", "1M": "1 month",
                 "all": "Whole range"}
RANGES = {"1h": 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000, "30d": 30 * 86_400_000,
          "90d": 90 * 86_400_000}
RANGE_LABELS = {"1h": "Last hour", "24h": "Last 24 hours", "7d": "Last 7 days", "30d": "Last 30 days",
                "90d": "Last 90 days", "custom": "Custom dates (UTC)"}
CHARTS = {"line": "Line", "bar": "Bars", "stacked": "Stacked bars", "heatmap": "Heatmap", "box": "Box"}
DEFAULTS: dict[str, Any] = {"metric": "runs", "field": "", "stat": "avg", "groupBy": "", "bucket": "1h",
                            "range": "24h", "from": "", "to": "", "jobId": "", "status": [], "app": "", "label": "",
                            "host": "", "chart": "line"}
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DAY_MS = 86_400_000


def _str(value: Any, limit: int = 200) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return value.strip()[:limit] if isinstance(value, str) else ""


def _pick(value: Any, choices: Mapping[str, Any] | tuple[str, ...], default: str) -> str:
    text = _str(value)
    return text if text in choices else default


def parse_state(args: Mapping[str, Any]) -> dict[str, Any]:
    """The explorer's state from query-string values (or the controls), anything invalid replaced by its default."""
    metric = _str(args.get("metric"))
    field = _str(args.get("field"), 64)
    if metric.startswith("metadata."):
        metric, field = "metadata", metric[len("metadata."):]
    metric = metric if metric in METRIC_LABELS else "runs"
    raw_status = args.get("status") or []
    status = raw_status.split(",") if isinstance(raw_status, str) else raw_status if isinstance(raw_status, list) else []
    state = {
        "metric": metric, "field": field if metric == "metadata" else "",
        "stat": _pick(args.get("stat"), STATS, "avg"), "groupBy": _pick(args.get("groupBy"), GROUP_LABELS, ""),
        "bucket": _pick(args.get("bucket"), BUCKET_LABELS, "1h"), "range": _pick(args.get("range"), RANGE_LABELS, "24h"),
        "from": "", "to": "",
        "jobId": _str(args.get("jobId")), "status": [s for s in STATUSES if s in status],
        "app": _str(args.get("app")), "label": _str(args.get("label")), "host": _str(args.get("host")),
        "chart": _pick(args.get("chart"), CHARTS, "line"),
    }
    if state["range"] == "custom":
        state["from"] = _date(args.get("from"))
        state["to"] = _date(args.get("to"))
    return state


def _date(value: Any) -> str:
    text = _str(value, 10)
    return text if DATE_RE.fullmatch(text) else ""


def query_string(state: Mapping[str, Any]) -> str:
    """The page's query string for a state, defaults left out (``""`` for the default view)."""
    params = []
    for key in ("metric", "field", "stat", "groupBy", "bucket", "range", "from", "to", "jobId", "status", "app",
                "label", "host", "chart"):
        value = state.get(key)
        if key == "status":
            value = ",".join(value or [])
        if key == "stat" and state.get("metric") != "metadata":
            continue
        if value and value != DEFAULTS[key]:
            params.append((key, value))
    return "?" + urlencode(params) if params else ""


def _day_ms(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp() * 1000)


def window(state: Mapping[str, Any], now: int) -> tuple[int, int]:
    """(from, to) in epoch ms: the relative range ending now, or whole UTC days for custom dates."""
    if state.get("range") == "custom" and state.get("from") and state.get("to"):
        try:
            return _day_ms(state["from"]), _day_ms(state["to"]) + DAY_MS - 1
        except ValueError:
            pass
    span = RANGES.get(state.get("range", ""), RANGES["24h"])
    return now - span, now


def api_params(state: Mapping[str, Any], now: int) -> dict[str, str]:
    """The ``GET /api/analytics/query`` parameters of a state, with explicit ``from``/``to``."""
    frm, to = window(state, now)
    metric = f"metadata.{state['field']}" if state["metric"] == "metadata" else state["metric"]
    params = {"metric": metric}
    if state["metric"] == "metadata":
        params["stat"] = state["stat"]
    if state.get("groupBy"):
        params["groupBy"] = state["groupBy"]
    params.update({"bucket": state["bucket"], "from": to_iso(frm) or "", "to": to_iso(to) or ""})
    for key in ("jobId", "app", "label", "host"):
        if state.get(key):
            params[key] = state[key]
    if state.get("status"):
        params["status"] = ",".join(state["status"])
    return params


def api_path(params: Mapping[str, str], fmt: str | None = None) -> str:
    """``/api/analytics/query?…`` for the parameters (``fmt``: ``csv`` or ``json``)."""
    items = list(params.items()) + ([("format", fmt)] if fmt else [])
    return "/api/analytics/query?" + urlencode(items)
