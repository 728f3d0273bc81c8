"""Real tests of chronos.redis_server: they start actual redis-server processes."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from chronos.redis_priority import CHILD_NICE
from chronos.redis_server import (
    EmbeddedRedis,
    EmbeddedRedisError,
    check_modules,
    find_openssl_libdir,
    free_port,
    redis_stack_dir,
)


def _gone(pid: int) -> bool:
    """True if *pid* no longer names a live redis-server (reaped or reused by something else)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return b"redis-server" not in cmdline


@pytest.fixture
def server(tmp_path: Path):
    srv = EmbeddedRedis(tmp_path / "data", port=free_port())
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def test_start_modules_and_commands(server: EmbeddedRedis) -> None:
    assert server.is_running()
    assert server.url == f"redis://127.0.0.1:{server.port}/0"
    assert server.pid is not None
    assert server.pid_path.read_text().strip() == str(server.pid)

    client = server.client(decode_responses=True)
    assert client.ping()
    assert check_modules(client) == []
    assert int(client.info("server")["process_id"]) == server.pid
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
    assert client.config_get("bind") == {"bind": "127.0.0.1"}
    assert client.config_get("protected-mode") == {"protected-mode": "yes"}

    assert client.execute_command("JSON.SET", "job:1", "$", '{"name": "backup", "runs": 3}') == "OK"
    assert client.execute_command("JSON.GET", "job:1", "$.runs") == "[3]"
    client.execute_command("FT.CREATE", "idx:jobs", "ON", "JSON", "PREFIX", "1", "job:",
                           "SCHEMA", "$.name", "AS", "name", "TAG")
    assert "idx:jobs" in client.execute_command("FT._LIST")
    assert client.execute_command("TS.ADD", "ts:dur", 1000, 2.5) == 1000
    assert client.execute_command("TS.GET", "ts:dur") == [1000, 2.5]

    # The project-local OpenSSL is used by the child (LD_LIBRARY_PATH set for it only),
    # never put on this process's LD_LIBRARY_PATH. (/proc/<pid>/environ is useless here:
    # redis-server overwrites it with its process title.)
    libdir = find_openssl_libdir()
    if libdir is not None:
        assert str(libdir) not in os.environ.get("LD_LIBRARY_PATH", "")
        maps = Path(f"/proc/{server.pid}/maps").read_text()
        assert str(libdir / "libssl.so.1.1") in maps
    client.close()


def test_stop_reaps_and_removes_pidfile(tmp_path: Path) -> None:
    srv = EmbeddedRedis(tmp_path, port=free_port())
    with srv as running:
        assert running is srv
        pid = srv.pid
        assert pid is not None and srv.pid_path.exists()
    assert not srv.is_running()
    assert srv.pid is None
    assert not srv.pid_path.exists()
    assert _gone(pid)
    srv.stop()  # idempotent
    srv.kill()  # no-op when not running


@pytest.mark.parametrize("appendfsync", ["everysec", "always"])
def test_data_survives_sigkill_and_restart(tmp_path: Path, appendfsync: str) -> None:
    port = free_port()
    srv = EmbeddedRedis(tmp_path, port=port, appendfsync=appendfsync)
    srv.start()
    try:
        client = srv.client(decode_responses=True)
        for i in range(200):
            client.set(f"k:{i}", f"v{i}")
        client.execute_command("JSON.SET", "doc", "$", '{"status": "ok", "n": 7}')
        client.execute_command("TS.ADD", "ts", 5000, 1.25)
        # Deterministic regardless of fsync policy: wait until the AOF is fsynced locally.
        assert client.execute_command("WAITAOF", 1, 0, 5000)[0] == 1
        client.close()

        old_pid = srv.pid
        assert old_pid is not None
        srv.kill()
        assert not srv.is_running()
        assert _gone(old_pid)
        assert srv.pid_path.exists()  # left behind, as after a real crash

        srv.start()  # same data dir and port; the stale pid file must not block it
        assert srv.pid != old_pid
        client = srv.client(decode_responses=True)
        assert client.dbsize() == 202
        assert [client.get(f"k:{i}") for i in (0, 99, 199)] == ["v0", "v99", "v199"]
        assert client.execute_command("JSON.GET", "doc", "$.status") == '["ok"]'
        assert client.execute_command("TS.GET", "ts") == [5000, 1.25]
        client.close()
    finally:
        srv.stop()


def test_port_in_use_gives_clear_error(server: EmbeddedRedis, tmp_path: Path) -> None:
    other = EmbeddedRedis(tmp_path / "other", port=server.port)
    with pytest.raises(EmbeddedRedisError) as err:
        other.start(timeout=10)
    message = str(err.value)
    assert "exited during startup" in message
    assert "already in use" in message
    assert not other.is_running()
    assert other.pid is None
    assert not other.pid_path.exists()
    # The first server is unaffected.
    assert server.is_running() and server.client().ping()


def test_data_dir_that_is_a_file_gives_clear_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    srv = EmbeddedRedis(not_a_dir, port=free_port())
    with pytest.raises(EmbeddedRedisError, match="Cannot create the Redis data directory"):
        srv.start()
    assert not srv.is_running()


def test_second_instance_on_same_data_dir_is_refused(server: EmbeddedRedis) -> None:
    twin = EmbeddedRedis(server.data_dir, port=free_port())
    with pytest.raises(EmbeddedRedisError, match=rf"pid {server.pid}.*still running"):
        twin.start()
    assert not twin.is_running()
    assert server.pid_path.read_text().strip() == str(server.pid)


def _system_lacks_openssl11() -> bool:
    binary = redis_stack_dir() / "bin" / "redis-server"
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, env=env).stdout
    return "libssl.so.1.1 => not found" in out


def test_missing_openssl_gives_actionable_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not _system_lacks_openssl11():
        pytest.skip("this system provides libssl.so.1.1 itself; the failure cannot be simulated")
    empty = tmp_path / "no-openssl"
    empty.mkdir()
    monkeypatch.setenv("CHRONOS_OPENSSL_DIR", str(empty))
    monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)
    srv = EmbeddedRedis(tmp_path / "data", port=free_port())
    with pytest.raises(EmbeddedRedisError) as err:
        srv.start()
    message = str(err.value)
    assert "libssl.so.1.1" in message
    assert "make run" in message and "scripts/provision_openssl.sh" in message
    assert "REDIS_URL" in message
    assert not srv.is_running()


def test_find_openssl_libdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHRONOS_OPENSSL_DIR", raising=False)
    assert find_openssl_libdir(tmp_path) is None
    libdir = tmp_path / ".deps" / "openssl11" / "usr" / "lib" / "some-linux-gnu"
    libdir.mkdir(parents=True)
    assert find_openssl_libdir(tmp_path) is None
    (libdir / "libssl.so.1.1").write_bytes(b"")
    assert find_openssl_libdir(tmp_path) == libdir
    monkeypatch.setenv("CHRONOS_OPENSSL_DIR", str(tmp_path / "explicit"))
    assert find_openssl_libdir(tmp_path) == tmp_path / "explicit"


def test_check_modules_on_plain_redis_reports_all_missing(tmp_path: Path) -> None:
    """A redis-server without modules: MODULE LIST is empty and the probes say 'unknown command'."""
    port = free_port()
    srv = EmbeddedRedis(tmp_path, port=port)
    argv = [srv.command_line()[0], "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(tmp_path)]
    proc = subprocess.Popen(argv, env=srv._child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    try:
        deadline = time.monotonic() + 15
        while True:
            assert proc.poll() is None, "plain redis-server exited early"
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert check_modules(client) == ["ReJSON", "search", "timeseries"]
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)


def test_invalid_appendfsync_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        EmbeddedRedis(tmp_path, appendfsync="sometimes")


def test_the_server_thread_gets_the_priority_asked_for(tmp_path: Path) -> None:
    """``nice`` is applied to the server's main thread right after it starts (a negative value needs root;
    without it the server keeps the default priority and still starts); its fork children (here a save)
    are put at ``CHILD_NICE``."""
    asked = -3
    srv = EmbeddedRedis(tmp_path / "data", port=free_port(), nice=asked)
    srv.start()
    try:
        expected = asked if os.geteuid() == 0 else 0
        assert os.getpriority(os.PRIO_PROCESS, srv.pid) == expected
        client = srv.client()
        client.mset({f"k{i}": i for i in range(20)})
        client.config_set("rdb-key-save-delay", 100_000)  # 0.1 s per key: a save child that lives ~2 s
        client.bgsave()
        children: list[int] = []
        for _ in range(40):  # the watcher looks every 0.2 s
            children = [int(p) for p in Path(f"/proc/{srv.pid}/task/{srv.pid}/children").read_text().split()]
            if children and all(os.getpriority(os.PRIO_PROCESS, c) == CHILD_NICE for c in children):
                break
            time.sleep(0.1)
        assert children and all(os.getpriority(os.PRIO_PROCESS, c) == CHILD_NICE for c in children)
        client.config_set("rdb-key-save-delay", 0)
    finally:
        srv.stop()
    plain = EmbeddedRedis(tmp_path / "plain", port=free_port())
    plain.start()
    try:
        assert os.getpriority(os.PRIO_PROCESS, plain.pid) == os.getpriority(os.PRIO_PROCESS, 0)
    finally:
        plain.stop()
