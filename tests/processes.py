"""Real processes for the tests that need them: gunicorn serving the app against a given Redis."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from chronos.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent


class Web:
    """gunicorn serving the app on a free port; ``workers()`` are the worker pids (children of the master)."""

    def __init__(self, redis_url: str, data_dir: Path, key: str, workers: int = 2, threads: int = 8,
                 queued: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / "gunicorn.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, REDIS_URL=redis_url, CHRONOS_DATA_DIR=str(data_dir),
                        CHRONOS_ADMIN_EMAIL="ops@example.com", CHRONOS_ADMIN_PASSWORD="ops-password",
                        CHRONOS_BOOTSTRAP_API_KEY=key, CHRONOS_SECRET_KEY="x", CHRONOS_RATE_LIMIT_PER_MIN="0",
                        CHRONOS_INGEST_QUEUE="1" if queued else "0")
        self.argv = [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{self.port}", "-w", str(workers),
                     "-k", "gthread", "--threads", str(threads), "--graceful-timeout", "5", "--timeout", "60",
                     "--no-control-socket", "--chdir", str(ROOT), "app:create_app()"]
        self.mode = "queued" if queued else "direct"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=str(ROOT), stdout=out,
                                         stderr=subprocess.STDOUT)
        wait_health(self.url, timeout, self.proc, self.log)

    def workers(self) -> list[int]:
        assert self.proc is not None
        try:
            return [int(p) for p in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()]
        except OSError:
            return []

    def busiest_worker(self) -> int | None:
        """The worker holding the most established client connections (the one a kill hurts most)."""
        established = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                rows = Path(table).read_text().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                f = row.split()
                if f[3] == "01" and int(f[1].rsplit(":", 1)[1], 16) == self.port:  # ESTABLISHED, our port
                    established.add(f[9])  # socket inode
        best, most = None, -1
        for pid in self.workers():
            try:
                links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
            except OSError:
                continue
            n = sum(1 for link in links if link.startswith("socket:[") and link[8:-1] in established)
            if n > most:
                best, most = pid, n
        return best

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def wait_health(url: str, timeout: float = 60.0, proc: subprocess.Popen | None = None,
                log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"gunicorn exited: {log.read_text()[-2000:] if log else ''}")
        try:
            if requests.get(url + "/api/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never became healthy")
