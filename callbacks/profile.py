"""Profile callbacks: account facts and the password change."""
from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, html
from dash.exceptions import PreventUpdate

from callbacks.common import owner, redis
from chronos.store import users
from pages._format import when
from pages._ids import profile as ids

MIN_PASSWORD = 8


def password_problem(user: dict[str, Any] | None, email: str, current: str, new: str, confirm: str,
                     check: Any) -> str | None:
    """Why the change cannot be made, or None. ``check(email, password)`` authenticates."""
    if not current or not new:
        return "Fill in the current and the new password."
    if len(new) < MIN_PASSWORD:
        return f"The new password needs {MIN_PASSWORD} characters or more."
    if new != confirm:
        return "The two new passwords differ."
    if new == current:
        return "The new password is the same as the current one."
    if user is None or check(email, current) is None:
        return "The current password is wrong."
    return None


@callback(Output(ids.info, "children"), Input(ids.submit, "id"))
def show(_id: str):
    user = users.get_user(redis(), owner()) or {}
    facts = [("Name", user.get("name") or "—"), ("Email", user.get("email") or "—"), ("Role", user.get("role") or "—"),
             ("Member since", when(user.get("createdAt")))]
    return html.Dl([x for k, v in facts for x in (html.Dt(k, className="col-sm-4 text-body-secondary fw-normal"),
                                                   html.Dd(v, className="col-sm-8"))], className="row mb-0")


@callback(
    Output(ids.message, "children"),
    Output(ids.current, "value"),
    Output(ids.new, "value"),
    Output(ids.confirm, "value"),
    Input(ids.submit, "n_clicks"),
    State(ids.current, "value"),
    State(ids.new, "value"),
    State(ids.confirm, "value"),
    prevent_initial_call=True,
)
def change_password(clicks: int | None, current: str | None, new: str | None, confirm: str | None):
    if not clicks:
        raise PreventUpdate
    r, me = redis(), owner()
    user = users.get_user(r, me)
    email = (user or {}).get("email", "")
    problem = password_problem(user, email, current or "", new or "", confirm or "",
                               lambda e, p: users.authenticate(r, e, p))
    if problem:
        return dbc.Alert(problem, color="danger", className="py-2", id="profile-error"), "", new, confirm
    users.set_password(r, me, new or "")
    return dbc.Alert("Password changed.", color="success", className="py-2", id="profile-ok"), "", "", ""
