"""``chronos up``: the embedded Redis (when REDIS_URL is unset), gunicorn and the worker processes,
in the foreground, stopped together on SIGTERM/SIGINT or when any of them dies."""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from chronos import keys
from chronos.config import PROJECT_ROOT, Settings
from chronos.db import RedisUnavailable, connect, ensure_embedded_running, redis_url

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "chronos-demo"


WEB_THREADS = 16  # per worker: each open live-update stream holds one


def default_web_workers() -> int:
    """``CHRONOS_WEB_WORKERS``, else two per CPU core (2 to 8). Python runs one thread at a time per process,
    so ingestion, streams and dashboards in one process wait on each other: on 2 cores, 4 workers x 16
    threads answered ingest at 5,200 executions/s with p99 223 ms where 2 x 32 gave 400-600 ms
    (docs/scaling.md)."""
    env = os.environ.get("CHRONOS_WEB_WORKERS")
    return int(env) if env else max(2, min(8, 2 * (os.cpu_count() or 1)))


def gunicorn_argv(settings: Settings, host: str, port: int, workers: int) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}", "--workers", str(workers),
        "--worker-class", "gthread", "--threads", str(WEB_THREADS), "--graceful-timeout", "5", "--timeout", "60",
        "--chdir", str(PROJECT_ROOT), "--log-level", "warning", "--no-control-socket", "app:create_app()",
    ]


class Supervisor:
    """Runs the product's processes until a signal, then stops them all (children first, Redis last)."""

    def __init__(self, settings: Settings, *, port: int, host: str = "127.0.0.1", demo: bool = False,
                 workers: int | None = None) -> None:
        self.settings = settings
        self.port = port
        self.host = host
        self.demo = demo
        self.workers = workers or default_web_workers()
        self.children: dict[str, subprocess.Popen] = {}
        self.stopping = threading.Event()
        self.embedded = None

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["REDIS_URL"] = redis_url(self.settings)
        env["CHRONOS_DATA_DIR"] = str(self.settings.data_dir)
        if self.demo:
            env.setdefault("CHRONOS_ADMIN_EMAIL", DEMO_EMAIL)
            env.setdefault("CHRONOS_ADMIN_PASSWORD", DEMO_PASSWORD)
            env.setdefault("CHRONOS_BOOTSTRAP_API_KEY", self._demo_key())
        return env

    def _demo_key(self) -> str:
        path = self.settings.data_dir / "demo_api_key"
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = "chr_demo_" + secrets.token_urlsafe(24)
        path.write_text(key)
        path.chmod(0o600)
        return key

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.children[name] = subprocess.Popen(argv, env=env, cwd=str(PROJECT_ROOT))

    def _wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.children["web"].poll() is not None:
                raise RuntimeError("the web server exited during start-up (see its output above)")
            try:
                if requests.get(self.base_url + "/api/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"the web server did not answer on {self.base_url} within {timeout:.0f} s")

    def _seed_demo(self, env: dict[str, str]) -> None:
        from chronos import demo

        r = connect(self.settings.__class__.load({"REDIS_URL": env["REDIS_URL"]}))
        key = env["CHRONOS_BOOTSTRAP_API_KEY"]
        if not r.exists(keys.demo_seeded()):
            print("seeding 30 days of demo history through the API…", flush=True)
            started = time.monotonic()
            counts = demo.seed(self.base_url, key)
            r.set(keys.demo_seeded(), str(int(time.time())))
            print(f"seeded {counts} in {time.monotonic() - started:.1f} s", flush=True)
        # The live part of the demo is the SDK's runner example, triggered by the scheduler over the stream:
        # the whole Synapse loop (register, fire, SSE trigger, run, report) on every heartbeat.
        runner_env = dict(env, CHRONOS_ENDPOINT=self.base_url, CHRONOS_API_KEY=key,
                          CHRONOS_SPOOL_DIR=str(self.settings.data_dir / "demo-spool"))
        log_path = self.settings.data_dir / "demo-runner.log"
        with open(log_path, "ab") as log_file:
            self.children["demo-runner"] = subprocess.Popen(
                [sys.executable, str(PROJECT_ROOT / "examples" / "runner_app.py"), "--trigger-mode", "server"],
                env=runner_env, cwd=str(PROJECT_ROOT), stdout=log_file, stderr=subprocess.STDOUT)

    def _banner(self, env: dict[str, str]) -> None:
        lines = ["", f"Chronos Synapse is up: {self.base_url}", f"  Redis:   {env['REDIS_URL']}"]
        if self.demo:
            lines += [f"  Sign in: {env['CHRONOS_ADMIN_EMAIL']} / {env['CHRONOS_ADMIN_PASSWORD']}",
                      f"  API key: {env['CHRONOS_BOOTSTRAP_API_KEY']}"]
        if self.demo:
            lines.append(f"  Runner:  examples/runner_app.py (log: {self.settings.data_dir / 'demo-runner.log'})")
        lines += ["  Stop:    Ctrl-C", ""]
        print("\n".join(lines), flush=True)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.stopping.set()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            self.embedded = ensure_embedded_running(self.settings)
            connect(self.settings)  # fail early, with the reason, when Redis is not usable
            env = self._env()
            self._spawn("web", gunicorn_argv(self.settings, self.host, self.port, self.workers), env)
            self._wait_healthy()
            for name, argv in extra_processes():
                self._spawn(name, argv, env)
            if self.demo:
                self._seed_demo(env)
            self._banner(env)
            while not self.stopping.wait(0.5):
                for name, proc in self.children.items():
                    if proc.poll() is not None:
                        print(f"chronos up: {name} exited with {proc.returncode}; stopping", file=sys.stderr)
                        return 1
            return 0
        except (RedisUnavailable, RuntimeError) as exc:
            print(f"chronos up: {exc}", file=sys.stderr)
            return 1
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        for proc in self.children.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for proc in self.children.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.embedded is not None:
            self.embedded.stop()
            self.embedded = None


def extra_processes() -> list[tuple[str, list[str]]]:
    """The worker processes `chronos up` runs beside the web server (each later part adds its own)."""
    procs: list[tuple[str, list[str]]] = []
    if (Path(PROJECT_ROOT) / "scheduler" / "__main__.py").exists():
        procs.append(("scheduler", [sys.executable, "-m", "scheduler"]))
    if (Path(PROJECT_ROOT) / "batch_runner" / "__main__.py").exists():
        procs.append(("batch-runner", [sys.executable, "-m", "batch_runner"]))
    return procs
