"""The servers a benchmark runs: its own embedded Redis Stack and gunicorn serving the app, on free ports.

Shared by bench/load.py, bench/ingest.py and bench/scaleout.py (imported as ``servers``: a bench run as a
script has ``bench/`` first on ``sys.path``). Importing this module puts the repository root on
``sys.path`` too, so ``chronos`` and ``app`` import from any working directory.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import requests  # noqa: E402

from chronos.config import Settings  # noqa: E402
from chronos.redis_server import EmbeddedRedis, free_port  # noqa: E402


class BenchError(RuntimeError):
    """A server could not start, or a run or a verification could not complete."""


def log(msg: str) -> None:
    print(msg, flush=True)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def exit_on_sigterm() -> None:
    """SIGTERM (``timeout``, ``make``) unwinds like Ctrl-C, so the finally blocks stop the servers."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def start_redis(data_dir: Path) -> EmbeddedRedis:
    """A started Redis Stack in ``data_dir`` on a free port, as ``chronos up`` runs it: AOF everysec, and the
    priority ``CHRONOS_REDIS_NICE`` asks for (-10 by default: the server's thread ahead of the web workers)."""
    embedded = EmbeddedRedis(data_dir, port=free_port(), nice=Settings.load().chronos_redis_nice)
    embedded.start()
    return embedded


def redis_cpu(r: redis.Redis) -> float:
    """CPU seconds the Redis server has used (user + system)."""
    cpu = r.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def proc_cpu_seconds(pid: int, *, with_children: bool = False) -> float:
    """User + system CPU seconds of a process (and of its reaped children) from /proc; 0 when gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    if with_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime: workers that exited
    return ticks / os.sysconf("SC_CLK_TCK")


def child_pids(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class Gunicorn:
    """``gunicorn -k gthread -w W --threads T --no-control-socket 'app:create_app()'`` on a free port, as
    production runs it, with the per-key rate limit off (one key carries the whole load).

    ``key``, ``admin`` (email, password) and ``secret`` bootstrap the server; its output goes to
    ``<data_dir>/<name>.log``.
    """

    def __init__(self, redis_url: str, data_dir: Path, *, key: str, admin: tuple[str, str], secret: str,
                 workers: int = 2, threads: int = 32, graceful_timeout: int | None = None, port: int | None = None,
                 extra_env: dict[str, str] | None = None, name: str = "web") -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / f"{name}.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, REDIS_URL=redis_url, CHRONOS_DATA_DIR=str(data_dir),
                        CHRONOS_ADMIN_EMAIL=admin[0], CHRONOS_ADMIN_PASSWORD=admin[1],
                        CHRONOS_BOOTSTRAP_API_KEY=key, CHRONOS_RATE_LIMIT_PER_MIN="0",
                        CHRONOS_SECRET_KEY=secret, **(extra_env or {}))
        graceful = ["--graceful-timeout", str(graceful_timeout)] if graceful_timeout is not None else []
        self.argv = [sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", str(workers), "--threads", str(threads),
                     "-b", f"127.0.0.1:{self.port}", "--chdir", str(ROOT), "--timeout", "120", *graceful,
                     "--no-control-socket", "app:create_app()"]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def start(self, timeout: float = 90.0) -> None:
        """Start the server and return once ``/api/health`` answers 200; raises :class:`BenchError`."""
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=str(ROOT), stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float = 90.0) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"gunicorn exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if requests.get(self.url + "/api/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise BenchError(f"gunicorn not healthy after {timeout:.0f}s:\n{self.tail()}")

    def workers(self) -> list[int]:
        return child_pids(self.proc.pid) if self.proc is not None else []

    def cpu_seconds(self) -> float:
        """CPU of the master and its workers, including workers that already exited."""
        if self.proc is None:
            return 0.0
        return proc_cpu_seconds(self.proc.pid, with_children=True) + sum(
            proc_cpu_seconds(p) for p in self.workers())

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
