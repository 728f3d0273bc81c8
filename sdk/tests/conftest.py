"""Fixtures for the SDK tests. Nothing here touches the network except test_http.py,
which talks to its own http.server on 127.0.0.1."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest

# Let the tests run from a plain checkout, without `pip install -e sdk`.
SDK_ROOT = Path(__file__).resolve().parents[1]
if str(SDK_ROOT) not in sys.path:
    sys.path.insert(0, str(SDK_ROOT))

import chronos_sdk  # noqa: E402
from chronos_sdk import ChronosClient, MemoryTransport  # noqa: E402


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in ("CHRONOS_API_KEY", "CHRONOS_ENDPOINT", "CHRONOS_APP_ID", "CHRONOS_APP_VERSION",
                 "CHRONOS_SPOOL_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # a default spool never lands in the real ~
    yield
    chronos_sdk.close(timeout=1.0)


@pytest.fixture
def transport() -> MemoryTransport:
    return MemoryTransport()


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[..., ChronosClient]]:
    made: List[ChronosClient] = []

    def make(transport: Any = None, **options: Any) -> ChronosClient:
        options.setdefault("spool_dir", str(tmp_path / "spool"))
        options.setdefault("flush_interval", 0.05)
        client = ChronosClient("chr_test", transport=transport or MemoryTransport(), **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close(timeout=1.0)


@pytest.fixture
def client(make_client: Callable[..., ChronosClient], transport: MemoryTransport) -> ChronosClient:
    return make_client(transport)


class FakeSleep:
    """Records requested sleeps and advances a fake clock instead of waiting."""

    def __init__(self) -> None:
        self.calls: List[float] = []
        self.now = 1000.0

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def fake_sleep() -> FakeSleep:
    return FakeSleep()
