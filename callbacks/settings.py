"""Settings callbacks: API keys (create, list, revoke) and the SDK snippet.

Viewers may look but not change: the role is checked here, on the server, whatever the page shows.
"""
from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, html
from dash.exceptions import PreventUpdate
from flask import request

from callbacks.common import owner, redis, role, settings
from chronos.store import users
from pages._components import create_code_block
from pages._format import when
from pages._ids import settings as ids


class Refused(Exception):
    """The signed-in user may not do that; the message says why."""


def check_may_manage(user_role: str, scopes: list[str] | tuple[str, ...] = ()) -> None:
    if user_role == "viewer":
        raise Refused("Viewers cannot create or revoke API keys; ask an administrator.")
    if "admin" in scopes and user_role != "admin":
        raise Refused("Only administrators can create keys with the admin scope.")


def create_key(r: Any, me: str, user_role: str, name: str | None, scopes: list[str] | None) -> tuple[str, Any]:
    scopes = [s for s in (scopes or []) if s in users.SCOPES]
    check_may_manage(user_role, scopes)
    if not scopes:
        raise Refused("Pick at least one scope.")
    return users.create_key(r, me, name=(name or "default").strip()[:100] or "default", scopes=tuple(scopes))


def revoke_key(r: Any, me: str, user_role: str, key_id: str) -> None:
    check_may_manage(user_role)
    if not users.revoke_key(r, me, key_id):
        raise Refused("No such key.")


def server_url() -> str:
    public = settings().chronos_public_url
    return (public or request.host_url).rstrip("/")


def sdk_snippet(url: str, key: str | None) -> str:
    return (
        "# pip install ./sdk   (chronos-synapse-sdk)\n"
        "import chronos_sdk\n\n"
        f'chronos_sdk.init(api_key="{key or "YOUR_API_KEY"}", endpoint="{url}")\n\n\n'
        '@chronos_sdk.monitor("nightly-report", schedule="0 2 * * *")\n'
        "def nightly_report():\n"
        '    print("crunching numbers")\n'
    )


def curl_snippet(url: str, key: str | None) -> str:
    return (
        f"curl -X POST {url}/api/ingest/executions/batch \\\n"
        f'  -H "x-api-key: {key or "YOUR_API_KEY"}" -H "Content-Type: application/json" \\\n'
        """  -d '{"executions": [{"execId": "run-1", "jobId": "nightly-report", "status": "success", """
        """"durationMs": 1200}]}'\n"""
    )


def snippet_view(url: str, key: str | None) -> Any:
    return html.Div([
        html.P(["Endpoint: ", html.Code(url, id="settings-endpoint")], className="mb-2"),
        html.Div(create_code_block(sdk_snippet(url, key), "python", wrap=True), id="settings-sdk-snippet"),
        html.P("Or straight over HTTP:", className="mb-2 mt-3"),
        html.Div(create_code_block(curl_snippet(url, key), "bash", wrap=True), id="settings-curl-snippet"),
        html.P("Use a key with the ingest scope. The key is filled in only right after you create it.",
               className="small text-body-secondary mb-0"),
    ])


def keys_table(keys: list[users.ApiKey], may_manage: bool) -> Any:
    if not keys:
        return html.P("No keys yet. Create one to connect the SDK.", className="text-body-secondary m-3")
    rows = []
    for k in sorted(keys, key=lambda k: (k.revoked, -k.created_at)):
        action = (html.Span("revoked", className="text-body-secondary small") if k.revoked else
                  dbc.Button("Revoke", id=ids.revoke(k.id), size="sm", color="danger", outline=True,
                             disabled=not may_manage))
        rows.append(html.Tr([
            html.Td([html.Div(k.name), html.Div(f"{k.prefix}…", className="small font-monospace text-body-secondary")]),
            html.Td(" ".join(k.scopes)), html.Td(when(k.created_at), className="small"), html.Td(action),
        ], className="key-row" + (" text-decoration-line-through opacity-50" if k.revoked else "")))
    head = html.Thead(html.Tr([html.Th(h) for h in ("Name", "Scopes", "Created", "")]))
    return dbc.Table([head, html.Tbody(rows)], size="sm", className="mb-0 align-middle", responsive=True)


def created_notice(secret: str, key: users.ApiKey) -> Any:
    return dbc.Alert([
        html.Div(f"Key “{key.name}” created. Copy it now: it is shown only once.", className="fw-semibold mb-2"),
        html.Code(secret, id="settings-new-secret", className="user-select-all fs-6 d-block text-break"),
    ], color="success", className="mb-0")


@callback(
    Output(ids.keys, "children"),
    Output(ids.created, "children"),
    Output(ids.message, "children"),
    Output(ids.snippet, "children"),
    Output(ids.create, "disabled"),
    Input(ids.create, "n_clicks"),
    Input(ids.revoke(ALL), "n_clicks"),
    State(ids.key_name, "value"),
    State(ids.key_scopes, "value"),
)
def manage_keys(create_clicks: int | None, _revoke_clicks: list[int | None], name: str | None,
                scopes: list[str] | None):
    r, me, user_role = redis(), owner(), role()
    trigger = ctx.triggered_id
    secret, created, message = None, None, None
    try:
        if trigger == ids.create and create_clicks:
            secret, key = create_key(r, me, user_role, name, scopes)
            created = created_notice(secret, key)
        elif isinstance(trigger, dict) and trigger.get("type") == "settings-revoke":
            if not ctx.triggered or not ctx.triggered[0].get("value"):
                raise PreventUpdate  # the list was redrawn, nothing was clicked
            revoke_key(r, me, user_role, trigger["key"])
            message = dbc.Alert("Key revoked: requests using it are refused from now on.", color="info",
                                dismissable=True, className="py-2")
    except (Refused, ValueError) as exc:
        message = dbc.Alert(str(exc), color="danger", className="py-2", id="settings-refused")
    may_manage = user_role != "viewer"
    return (keys_table(users.list_keys(r, me), may_manage), created, message, snippet_view(server_url(), secret),
            not may_manage)
