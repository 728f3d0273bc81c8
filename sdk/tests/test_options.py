from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import chronos_sdk
from chronos_sdk import ChronosClient, ClientState, ConfigurationError, MemoryTransport
from chronos_sdk.options import DEFAULT_ENDPOINT, resolve_options

SDK_ROOT = Path(__file__).resolve().parents[1]


def test_it_rejects_unknown_options_with_type_error():
    with pytest.raises(TypeError, match="flush_intervall"):
        ChronosClient("chr_x", flush_intervall=3)
    with pytest.raises(TypeError):
        chronos_sdk.init("chr_x", nope=1)  # type: ignore[call-arg]


def test_it_rejects_bad_values():
    with pytest.raises(ConfigurationError):
        resolve_options("chr_x", endpoint="ftp://example")
    with pytest.raises(ConfigurationError):
        resolve_options("chr_x", batch_size=5000)
    with pytest.raises(ConfigurationError):
        resolve_options("chr_x", timeout=0)


def test_it_falls_back_to_environment_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("CHRONOS_API_KEY", "chr_env")
    monkeypatch.setenv("CHRONOS_ENDPOINT", "http://chronos.local:9000/")
    monkeypatch.setenv("CHRONOS_APP_ID", "billing")
    monkeypatch.setenv("CHRONOS_APP_VERSION", "4.2.0")
    monkeypatch.setenv("CHRONOS_SPOOL_DIR", str(tmp_path / "sp"))
    opts = resolve_options()
    assert opts.api_key == "chr_env"
    assert opts.endpoint == "http://chronos.local:9000"
    assert opts.app_id == "billing"
    assert opts.app_version == "4.2.0"
    assert opts.spool_path().parent == tmp_path / "sp"


def test_explicit_options_win_over_environment(monkeypatch):
    monkeypatch.setenv("CHRONOS_API_KEY", "chr_env")
    opts = resolve_options("chr_given", endpoint="https://x.example")
    assert (opts.api_key, opts.endpoint) == ("chr_given", "https://x.example")
    assert resolve_options().endpoint == DEFAULT_ENDPOINT


def test_app_version_can_name_an_installed_distribution():
    import requests

    assert resolve_options("k", app_version="requests").app_version == requests.__version__
    assert resolve_options("k", app_version="9.9.9-custom").app_version == "9.9.9-custom"


def test_spool_dir_is_per_endpoint_and_key(tmp_path):
    a = resolve_options("chr_a", spool_dir=str(tmp_path)).spool_path()
    b = resolve_options("chr_b", spool_dir=str(tmp_path)).spool_path()
    assert a != b and a.parent == b.parent == tmp_path
    assert resolve_options("chr_a", spool_dir=False).spool_path() is None
    default = resolve_options("chr_a").spool_path()
    assert default.parent == Path.home() / ".cache" / "chronos" / "spool"


def test_a_client_without_key_sends_nothing():
    client = ChronosClient(spool_dir=False)
    assert not client.options.enabled
    assert client.capture_event({"execId": "1", "jobId": "j", "status": "running"}) is False
    assert client.stats()["discarded"] == 1
    assert client.flush(0.1) is True
    client.close()


def test_init_replaces_and_closes_the_previous_client():
    first = chronos_sdk.init("chr_1", transport=MemoryTransport(), spool_dir=False)
    second = chronos_sdk.init("chr_2", transport=MemoryTransport(), spool_dir=False)
    assert chronos_sdk.get_client() is second
    assert first.state is ClientState.CLOSED and second.state is ClientState.OPEN
    chronos_sdk.close()
    assert chronos_sdk.get_client() is None and second.state is ClientState.CLOSED


def test_importing_the_sdk_has_no_side_effects():
    code = (
        "import sys, threading, atexit\n"
        "import chronos_sdk, chronos_sdk.cli, chronos_sdk.data\n"
        "assert threading.active_count() == 1, threading.enumerate()\n"
        "assert 'requests' not in sys.modules, 'requests imported eagerly'\n"
        "import chronos_sdk.client as c\n"
        "assert not c._atexit_installed and not c._live\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('chronos', 'ingest_api', 'app')]\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=str(SDK_ROOT), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
