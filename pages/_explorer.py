"""The executions explorer's state and its query-string form (shared by the page and its callbacks)."""
from __future__ import annotations

from urllib.parse import urlencode

from pages._components import STATUS_OPTIONS

RANGE_OPTIONS = [("1", "Last hour"), ("24", "Last 24 hours"), ("168", "Last 7 days"), ("720", "Last 30 days"),
                 ("all", "Any time")]
STATUSES = [o["value"] for o in STATUS_OPTIONS]


def parse_state(q: object = "", job: object = "", status: object = "", range: object = "",
                page: object = "") -> dict[str, object]:
    """The explorer's state from query-string values, with anything invalid replaced by its default."""
    text = q if isinstance(q, str) else ""
    job_id = job if isinstance(job, str) else ""
    raw = status if isinstance(status, str) else ",".join(s for s in status if isinstance(s, str)) \
        if isinstance(status, list) else ""
    statuses = [s for s in raw.split(",") if s in STATUSES]
    rng = range if isinstance(range, str) and range in dict(RANGE_OPTIONS) else "168"
    try:
        page_no = max(1, min(int(page), 2000)) if isinstance(page, str) and page else 1
    except ValueError:
        page_no = 1
    return {"q": text[:500], "job": job_id[:200], "status": statuses, "range": rng, "page": page_no}


def query_string(state: dict[str, object]) -> str:
    """The query string for a state, defaults left out (``""`` for the default view)."""
    params = []
    if state.get("q"):
        params.append(("q", state["q"]))
    if state.get("job"):
        params.append(("job", state["job"]))
    if state.get("status"):
        params.append(("status", ",".join(state["status"])))  # type: ignore[arg-type]
    if state.get("range") and state["range"] != "168":
        params.append(("range", state["range"]))
    if state.get("page") and int(state["page"]) > 1:  # type: ignore[call-overload]
        params.append(("page", str(state["page"])))
    return "?" + urlencode(params) if params else ""
