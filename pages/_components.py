"""Layout builders shared by the pages. No callbacks and no Redis here.

User text only ever reaches the page as the children of Dash components (escaped by React); nothing here
builds HTML strings or uses ``dangerously_allow_html``.
"""
from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html
from flask_login import current_user

from pages import _highlight as highlight
from pages._ids import shell

ANY = "__any__"  # the "no filter" choice of a select (an empty value would show the placeholder)
RANGES = [("1", "Last hour"), ("24", "Last 24 hours"), ("168", "Last 7 days"), ("720", "Last 30 days")]
STATUS_OPTIONS = [{"label": s.capitalize(), "value": s} for s in ("success", "failed", "timeout", "cancelled",
                                                                   "running")]


def _role() -> str:
    try:
        return current_user.role if current_user.is_authenticated else ""
    except Exception:  # noqa: BLE001 - outside a request (validation layouts, tests)
        return ""


def create_navbar() -> dbc.Navbar:
    role = _role()
    links = [
        dbc.NavItem(dbc.NavLink(page["name"], href=page["relative_path"], active="partial"
                                if page["relative_path"] != "/" else "exact"))
        for page in dash.page_registry.values()
        if page.get("order") is not None and not page.get("hidden")
        and (not page.get("admin_only") or role == "admin")
    ]
    try:
        who = current_user.email if current_user.is_authenticated else ""
    except Exception:  # noqa: BLE001
        who = ""
    return dbc.Navbar(
        dbc.Container([
            dbc.NavbarBrand([html.I(className="bi bi-clock-history me-2"), "Chronos Synapse"], href="/"),
            dbc.Nav(links, navbar=True, className="me-auto"),
            html.Span([html.Span(className="live-dot me-1"), html.Span("connecting", id=shell.live_status)],
                      id=shell.live_status + "-wrap", className="live-indicator small me-3",
                      **{"data-state": "connecting"},
                      title="live: events arrive over the stream · polling: the stream is down, the page "
                            "refreshes every few seconds · offline: the server cannot be reached"),
            dbc.Button(html.I(className="bi bi-circle-half"), id=shell.theme_toggle, color="link",
                       className="me-2 text-body", title="Switch light / dark theme"),
            dbc.DropdownMenu([
                dbc.DropdownMenuItem("Profile", href="/profile"),
                dbc.DropdownMenuItem("Settings & API keys", href="/settings"),
                dbc.DropdownMenuItem(divider=True),
                dbc.DropdownMenuItem("Sign out", href="/logout", external_link=True),
            ], label=who or "Account", nav=False, size="sm", color="secondary", align_end=True,
                id="shell-account"),
        ], fluid=True),
        color="body-tertiary", dark=False, className="border-bottom mb-3",
    )


def create_shell() -> html.Div:
    """The app layout: navbar, the page, and the stores the live updates feed."""
    return html.Div([
        dcc.Location(id=shell.url, refresh="callback-nav"),
        dcc.Store(id=shell.theme, storage_type="local", data="light"),
        dcc.Store(id=shell.live_event, data=None),
        # The poll runs while the stream is down (assets/live.js turns it on and off).
        dcc.Interval(id=shell.poll, interval=5_000, disabled=True),
        create_navbar(),
        dbc.Container(dash.page_container, fluid=True, className="pb-5"),
    ])


def create_page_header(title: Any, *right: Any, subtitle: Any = None) -> dbc.Row:
    left = [html.H2(title, className="h4 mb-0")]
    if subtitle is not None:
        left.append(html.Div(subtitle, className="text-body-secondary small"))
    return dbc.Row([dbc.Col(left, width="auto", className="me-auto"),
                    *[dbc.Col(x, width="auto") for x in right]],
                   className="align-items-center g-2 mb-3")


def create_range_select(id_: str, value: str = "24", options: list[tuple[str, str]] | None = None) -> dbc.Select:
    return dbc.Select(id=id_, value=value, size="sm",
                      options=[{"label": label, "value": v} for v, label in (options or RANGES)])


def create_card(header: Any, body: Any, *, body_class: str = "", **kw: Any) -> dbc.Card:
    return dbc.Card([dbc.CardHeader(header), dbc.CardBody(body, className=body_class)],
                    className="shadow-sm " + kw.pop("className", ""), **kw)


def create_graph(id_: str, height: int = 320) -> dcc.Graph:
    return dcc.Graph(id=id_, config={"displaylogo": False, "displayModeBar": False},
                     style={"height": f"{height}px"})


def create_kpi(label: str, value: Any, hint: str = "", *, id_: str | None = None) -> dbc.Card:
    body = [html.Div(label, className="text-body-secondary small text-uppercase"),
            html.Div(value, className="fs-3 fw-semibold")]
    if hint:
        body.append(html.Div(hint, className="small text-body-secondary"))
    return dbc.Card(dbc.CardBody(body), className="h-100 shadow-sm", id=id_ or f"kpi-{label.lower().replace(' ', '-')}")


def create_empty_state(title: str, text: Any, *, action: Any = None) -> html.Div:
    children = [html.I(className="bi bi-inbox fs-2 text-body-secondary"), html.H5(title, className="mt-2"),
                html.P(text, className="text-body-secondary mb-2")]
    if action is not None:
        children.append(action)
    return html.Div(children, className="text-center p-5 border rounded-3 bg-body-tertiary empty-state")


def create_pagination(id_: str) -> dbc.Pagination:
    return dbc.Pagination(id=id_, max_value=1, active_page=1, fully_expanded=False, previous_next=True,
                          size="sm", className="mb-0")


def create_text_block(text: str | None, *, id_: str | None = None, empty: str = "(empty)") -> html.Pre:
    """A scrolling monospace block with the text as text."""
    kw = {"id": id_} if id_ else {}
    return html.Pre(text if text else empty, className="log-block" + ("" if text else " text-body-secondary"), **kw)


def create_code_block(code: str, language: str | None, *, mark_line: int | None = None,
                      first_line: int = 1, wrap: bool = False) -> html.Pre:
    """Code in ``<pre><code class="language-...">`` with line numbers and token colours (all as text);
    ``mark_line`` (absolute) is highlighted as the failing line."""
    lang = "".join(c for c in (language or "text").lower() if c.isalnum() or c in "+-#") or "text"
    rules = highlight.language(lang)
    rows = []
    for i, line in enumerate(code.rstrip("\n").split("\n")):
        number = first_line + i
        marked = mark_line is not None and number == mark_line
        pieces = [html.Span(text, className=f"tok-{kind}") if kind else text
                  for text, kind in highlight.highlight_line(line, rules)]
        rows.append(html.Span([html.Span(str(number), className="ln"), *pieces, "\n"],
                              className="code-line" + (" marked" if marked else ""),
                              title="the failing line" if marked else None))
    return html.Pre(html.Code(rows, className=f"language-{lang}"), className="code-block" + (" wrap" if wrap else ""))
