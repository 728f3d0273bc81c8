"""Browser fixtures for the page tests (a pytest plugin: ``pytest_plugins = ["tests.browser.fixtures"]``).

One headless Chromium (the Debian package, never a downloaded build) per test module; a fresh context per
``new_page()`` call, whose console errors, page errors and dialogs are collected.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium from the Debian package (never a downloaded browser build).

    Module-scoped: Playwright's sync API keeps an asyncio loop running in the main thread while it is
    started, which would break later tests that call ``asyncio.run`` (the SDK's async tests).
    """
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class Console:
    """Collects browser console errors, uncaught page errors and dialogs of one page."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("dialog", self._on_dialog)

    def _on_console(self, msg: Any) -> None:
        if msg.type == "error":
            self.errors.append(f"console.error: {msg.text}")

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def assert_clean(self) -> None:
        assert self.errors == [], "browser console not clean:\n" + "\n".join(self.errors)
        assert self.dialogs == [], f"a dialog opened: {self.dialogs}"


@pytest.fixture
def new_page(browser: Any, live_server: str) -> Iterator[Any]:
    """``page, console = new_page()``: a fresh browser context (no cookies) per call, closed after the test."""
    contexts = []

    def make() -> tuple[Any, Console]:
        ctx = browser.new_context(viewport=VIEWPORT, base_url=live_server)
        ctx.set_default_timeout(15_000)
        contexts.append(ctx)
        page = ctx.new_page()
        return page, Console(page)

    yield make
    for ctx in contexts:
        ctx.close()
