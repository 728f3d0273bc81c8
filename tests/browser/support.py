"""Playwright helpers for the page tests: sign-in, waiting for Dash, screenshots into docs/screenshots,
and Dash callback payloads built by hand. The fixtures live in ``tests.browser.fixtures``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def login(page: Any, email: str, password: str, next_path: str = "/") -> None:
    """Sign in through the server-rendered form, then wait for Dash to draw the navbar."""
    page.goto(f"/login?next={next_path}")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#submit")
    page.wait_for_selector("#shell-live-status")


def open_page(page: Any, path: str, ready: str) -> None:
    """Go to ``path`` and wait until ``ready`` (a selector) shows and no Dash callback is pending."""
    page.goto(path)
    page.wait_for_selector(ready)
    settle(page)


def settle(page: Any, timeout: int = 15_000) -> None:
    """Wait until Dash has no callback in flight (the renderer shows ``._dash-loading-callback`` meanwhile)."""
    page.wait_for_function("() => !document.querySelector('._dash-loading-callback')", timeout=timeout)
    page.wait_for_timeout(300)


def wait_live(page: Any, timeout: int = 10_000) -> None:
    page.wait_for_function("() => (document.getElementById('shell-live-status') || {}).textContent === 'live'",
                           timeout=timeout)


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


# ---- Dash callbacks over HTTP ---------------------------------------------------------------------

def _id_str(component_id: str | dict[str, Any]) -> str:
    if isinstance(component_id, dict):
        return json.dumps(component_id, sort_keys=True, separators=(",", ":"))
    return component_id


def dash_payload(outputs: list[tuple[Any, str]], inputs: list[Any], state: list[Any] | None = None,
                 changed: list[str] | None = None) -> dict[str, Any]:
    """The body Dash's renderer posts to ``/_dash-update-component``.

    ``inputs``/``state`` items are ``{"id", "property", "value"}`` dicts, or lists of them for ALL wildcards.
    """
    outs = [{"id": i, "property": p} for i, p in outputs]
    if len(outs) == 1:
        output = f"{_id_str(outs[0]['id'])}.{outs[0]['property']}"
        outs_field: Any = outs[0]
    else:
        output = ".." + "...".join(f"{_id_str(o['id'])}.{o['property']}" for o in outs) + ".."
        outs_field = outs
    body = {"output": output, "outputs": outs_field, "inputs": inputs, "changedPropIds": changed or [],
            "parsedChangedPropsIds": changed or []}
    if state:
        body["state"] = state
    return body


def texts(response_json: dict[str, Any]) -> str:
    """Every string inside a callback response, joined (to look for a message)."""
    out: list[str] = []

    def walk(x: Any) -> None:
        if isinstance(x, str):
            out.append(x)
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(response_json)
    return " ".join(out)
