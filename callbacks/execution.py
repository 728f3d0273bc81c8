"""Execution detail callbacks: the whole page from one document, and the log downloads."""
from __future__ import annotations

import json
import re
from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, ctx, dcc, html
from dash.exceptions import PreventUpdate

from callbacks.common import owner, redis
from chronos.store import executions as exec_store
from pages._components import create_card, create_code_block, create_empty_state, create_text_block
from pages._format import duration, job_href, status_badge, time_ago, when
from pages._ids import execution as ids

_PY_FRAME = re.compile(r'File "[^"]*", line (\d+)[^\n]*\n([^\n]*)')


def snippet_lines(doc: dict[str, Any]) -> tuple[int, int | None]:
    """(number of the snippet's first line, number of the failing line or None).

    An SDK may send ``codeFirstLine``/``codeErrorLine``; otherwise a Python traceback's last frame names the
    failing line and quotes it, which places the snippet when that quoted text is found in it.
    """
    extra = doc.get("extra") if isinstance(doc.get("extra"), dict) else {}
    first, mark = extra.get("codeFirstLine"), extra.get("codeErrorLine")
    if isinstance(first, int) and first > 0:
        return first, mark if isinstance(mark, int) else None
    snippet, stack = doc.get("codeSnippet") or "", doc.get("errorStack") or ""
    frames = _PY_FRAME.findall(stack)
    if not frames or not snippet:
        return 1, None
    number, quoted = int(frames[-1][0]), frames[-1][1].strip()
    if not quoted:
        return 1, None
    for i, line in enumerate(snippet.split("\n")):
        if line.strip() == quoted:
            return max(1, number - i), number
    return 1, None


def _row(label: str, value: Any) -> list[Any]:
    return [html.Dt(label, className="col-sm-4 text-body-secondary fw-normal"), html.Dd(value, className="col-sm-8")]


def run_facts(doc: dict[str, Any]) -> Any:
    rows = [
        _row("Started", when(doc.get("startedAt"))),
        _row("Finished", when(doc.get("finishedAt")) if doc.get("finishedAt") else "still running"),
        _row("Duration", duration(doc.get("durationMs"))),
        _row("Received", when(doc.get("receivedAt"))),
        _row("Attempt", str(doc.get("attempt", "—"))),
        _row("Exit code", str(doc["exitCode"]) if doc.get("exitCode") is not None else "—"),
        _row("Host", doc.get("host") or "—"),
    ]
    for label, key in (("PID", "pid"), ("Trigger", "triggerId"), ("App", "appId"), ("Job version", "jobVersion"),
                       ("App version", "appVersion")):
        if doc.get(key) is not None:
            rows.append(_row(label, str(doc[key])))
    if doc.get("cpuTimeMs") is not None:
        rows.append(_row("CPU time", duration(doc["cpuTimeMs"])))
    if doc.get("peakMemoryKb") is not None:
        rows.append(_row("Peak memory", f"{float(doc['peakMemoryKb']) / 1024:.1f} MiB"))
    return html.Dl([x for pair in rows for x in pair], className="row mb-0")


def labels_view(labels: Any) -> Any:
    if not labels:
        return html.Span("No labels", className="text-body-secondary")
    items = [f"{k}: {v}" if v != "" else str(k) for k, v in labels.items()] if isinstance(labels, dict) \
        else [str(x) for x in labels]
    return html.Div([dbc.Badge(t, color="secondary", pill=True, className="me-1 mb-1 fw-normal label-badge")
                     for t in items])


def log_card(title: str, doc: dict[str, Any], field: str, button_id: str) -> Any:
    text = doc.get(field)
    cut = bool((doc.get("truncated") or {}).get(field))
    head = dbc.Row([
        dbc.Col(title, className="me-auto", width="auto"),
        dbc.Col(dbc.Button([html.I(className="bi bi-download me-1"), "Download"], id=button_id, size="sm",
                           color="secondary", outline=True, disabled=not text), width="auto"),
    ], className="align-items-center g-2")
    body = []
    if cut:
        body.append(dbc.Alert("Truncated: only the end of this output was kept (the server caps each log).",
                              color="warning", className="py-1 px-2 small mb-2 truncation-notice"))
    body.append(create_text_block(text, id_=f"exec-{field}", empty=f"(no {title.lower()})"))
    return create_card(head, body, className="mb-3")


def page(doc: dict[str, Any]) -> Any:
    status = doc.get("status")
    parts: list[Any] = [
        html.Div([dcc.Link("Jobs", href="/jobs"), " / ",
                  dcc.Link(doc.get("jobName") or doc["jobId"], href=job_href(doc["jobId"]), id="exec-job-link"),
                  " / execution"], className="small text-body-secondary"),
        html.H2([html.Span(doc["execId"], className="font-monospace me-3"), status_badge(status)],
                className="h4 mb-1"),
        html.Div(f"{time_ago(doc.get('finishedAt') or doc.get('startedAt'))} · took {duration(doc.get('durationMs'))}",
                 className="text-body-secondary small mb-3"),
    ]
    left: list[Any] = []
    if doc.get("errorType") or doc.get("errorMessage") or doc.get("errorStack"):
        err = [html.Div(doc.get("errorType") or "Error", className="fw-semibold font-monospace", id="exec-error-type"),
               html.P(doc.get("errorMessage") or "", className="text-break mb-2", id="exec-error-message")]
        if doc.get("errorStack"):
            err.append(create_text_block(doc["errorStack"], id_="exec-error-stack"))
        left.append(create_card(html.Span("Error", className="text-danger"), err, className="mb-3 border-danger"))
    left.append(log_card("Stdout", doc, "stdout", ids.download_stdout))
    left.append(log_card("Stderr", doc, "stderr", ids.download_stderr))
    if doc.get("codeSnippet"):
        first, mark = snippet_lines(doc)
        lang = doc.get("codeLanguage") or "text"
        left.append(create_card([html.Span("Code "), dbc.Badge(lang, color="info", className="ms-1")],
                                create_code_block(doc["codeSnippet"], lang, mark_line=mark, first_line=first),
                                className="mb-3", body_class="p-0"))
    right = [create_card("Run", run_facts(doc), className="mb-3"),
             create_card("Labels", labels_view(doc.get("labels")), className="mb-3")]
    for title, key in (("Metadata", "metadata"), ("Other fields", "extra")):
        if doc.get(key):
            right.append(create_card(title, create_text_block(json.dumps(doc[key], indent=2, ensure_ascii=False,
                                                                         default=str)), className="mb-3"))
    parts.append(dbc.Row([dbc.Col(left, lg=8), dbc.Col(right, lg=4)], className="g-3"))
    return html.Div(parts)


@callback(Output(ids.body, "children"), Input(ids.id, "data"))
def show(exec_id: str):
    doc = exec_store.get(redis(), owner(), exec_id) if exec_id else None
    if doc is None:
        return create_empty_state("No such execution",
                                  f"There is no execution “{exec_id}” in your account (runs expire after the "
                                  "retention period).",
                                  action=dcc.Link("Search executions", href="/executions",
                                                  className="btn btn-primary btn-sm"))
    return page(doc)


def _filename(exec_id: str, field: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", exec_id)[:100] or "execution"
    return f"{safe}.{field}.txt"


@callback(
    Output(ids.download, "data"),
    Input(ids.download_stdout, "n_clicks"),
    Input(ids.download_stderr, "n_clicks"),
    State(ids.id, "data"),
    prevent_initial_call=True,
)
def download(_out: int | None, _err: int | None, exec_id: str):
    field = "stdout" if ctx.triggered_id == ids.download_stdout else "stderr"
    if not ctx.triggered or not ctx.triggered[0].get("value"):
        raise PreventUpdate
    doc = exec_store.get(redis(), owner(), exec_id) if exec_id else None
    if not doc or not doc.get(field):
        raise PreventUpdate
    return dcc.send_string(doc[field], _filename(exec_id, field), type="text/plain")
