#!/usr/bin/env python
"""Dashboard benchmark: every page's Dash callbacks timed through the real HTTP endpoint at scale.

    python bench/dashboard.py                       # 1,000,000 executions over 1,000 jobs, 30 days
    python bench/dashboard.py --n 100000            # a quicker run
    python bench/dashboard.py --redis-url redis://127.0.0.1:6379/0 --keep   # load once ...
    python bench/dashboard.py --redis-url redis://127.0.0.1:6379/0 --skip-load   # ... time again

1. Redis Stack: embedded (temp dir, free port, appendfsync no) or ``--redis-url`` (database flushed
   unless ``--skip-load``).
2. Load: the jobs are registered with the store's upsert; the executions are written by ``--procs``
   processes, each calling ``chronos.store.executions.record`` (the ingest Lua script: documents, job
   counters, 30 metric samples, the event stream) in batches of 2,000. Finish times spread evenly over
   ``--days``; 90 % success, 7 % failed, 2 % timeout, 1 % cancelled, failures with error types and
   messages drawn from a small set (so the full-text search has something to find).
3. The web server as production runs it (``gunicorn -k gthread 'app:create_app()'``), a session signed
   in through the login form, then every callback of every page posted to ``/_dash-update-component``
   with payloads built as the browser sends them: ``--iterations`` timed calls each after one warm-up.

Prints the load time and rate, and a table of p50 / p95 / max per callback (goal: p95 <= 300 ms).
Asserts no time; exits non-zero only when a call fails.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import requests  # noqa: E402

from chronos.bootstrap import ensure_bootstrap  # noqa: E402
from chronos.config import Settings  # noqa: E402
from chronos.redis_server import EmbeddedRedis, free_port  # noqa: E402
from chronos.store import executions as exec_store  # noqa: E402
from chronos.store import jobs as job_store  # noqa: E402
from chronos.store import users  # noqa: E402
from chronos.store.lua import Scripts  # noqa: E402
from chronos.store.schema import ensure_schema  # noqa: E402
from pages._ids import admin, analytics, execution, explorer, job, jobs, overview, profile, settings, shell  # noqa: E402

EMAIL, PASSWORD = "bench@example.com", "bench-password-1"
BATCH = 2_000
ERRORS = [("ConnectionRefusedError", "Connection refused by db-{n}.internal:5432"),
          ("TimeoutError", "timeout after {n}s waiting for the upstream API"),
          ("KeyError", "KeyError: 'customer_{n}' missing in payload"),
          ("HTTPError", "503 Service Unavailable from billing-{n}")]
SCHEDULES = ["*/5 * * * *", "0 * * * *", "0 3 * * *", "30 9 * * 1-5", "*/15 * * * *", "0 0 * * 0"]
TAGS = ["etl", "billing", "reports", "sync", "cleanup", "email", "ml", "backup"]


def settings_for(redis_url: str, data_dir: Path) -> Settings:
    return Settings.load({"REDIS_URL": redis_url, "CHRONOS_DATA_DIR": str(data_dir), "CHRONOS_SECRET_KEY": "bench",
                          "CHRONOS_ADMIN_EMAIL": EMAIL, "CHRONOS_ADMIN_PASSWORD": PASSWORD})


def job_ids(count: int) -> list[str]:
    return [f"job-{j:05d}" for j in range(count)]


def register_jobs(r: redis.Redis, owner: str, count: int) -> None:
    rnd = random.Random(1)
    defs = [{"id": jid, "name": f"{rnd.choice(TAGS).capitalize()} job {i}", "schedule": rnd.choice(SCHEDULES),
             "runMode": "recurring", "tags": rnd.sample(TAGS, 2), "appId": f"app-{i % 12}", "version": "1.0.0",
             "timezone": rnd.choice(["UTC", "Europe/Berlin", "America/New_York"])}
            for i, jid in enumerate(job_ids(count))]
    for i in range(0, len(defs), 500):
        pipe = r.pipeline(transaction=False)
        job_store.upsert(r, owner, defs[i:i + 500], pipe=pipe)
        pipe.execute()


def make_event(i: int, rnd: random.Random, jobs_: list[str], finished: int) -> dict[str, Any]:
    duration = int(rnd.lognormvariate(7.5, 1.0))  # ~1.8 s median, long tail
    roll = rnd.random()
    status = "success" if roll < 0.90 else "failed" if roll < 0.97 else "timeout" if roll < 0.99 else "cancelled"
    ev: dict[str, Any] = {"execId": f"e{i:08d}", "jobId": rnd.choice(jobs_), "status": status,
                          "startedAt": finished - duration, "finishedAt": finished, "durationMs": duration,
                          "attempt": 1, "exitCode": 0 if status == "success" else 1,
                          "host": f"worker-{i % 8}", "labels": {"env": "prod" if i % 5 else "staging"},
                          "jobVersion": "1.0.0", "appVersion": "2024.6"}
    if status in ("failed", "timeout"):
        etype, msg = rnd.choice(ERRORS)
        ev.update(errorType=etype, errorMessage=msg.format(n=rnd.randint(1, 9)))
    return ev


def load_part(args: tuple[str, str, str, int, int, int, int, int]) -> int:
    """One loader process: executions ``start..stop`` written through the ingest Lua script."""
    redis_url, data_dir, owner, start, stop, n_jobs, now, span_ms = args
    r = redis.Redis.from_url(redis_url, protocol=2)
    settings_ = settings_for(redis_url, Path(data_dir))
    scripts = Scripts(r)
    rnd = random.Random(start)
    jobs_ = job_ids(n_jobs)
    done, count = 0, max(1, stop - start)
    # Every process walks the whole time span in order, so metric samples mostly append (out-of-order
    # TimeSeries inserts are far slower).
    step = span_ms / count
    for lo in range(start, stop, BATCH):
        events = [make_event(i, rnd, jobs_, now - span_ms + int((i - start) * step) + rnd.randrange(60_000))
                  for i in range(lo, min(stop, lo + BATCH))]
        done += exec_store.record(r, scripts, owner, events, settings_).accepted
    return done


def load(redis_url: str, data_dir: Path, owner: str, n: int, n_jobs: int, days: int, procs: int) -> float:
    r = redis.Redis.from_url(redis_url, protocol=2)
    started = time.monotonic()
    register_jobs(r, owner, n_jobs)
    now, span = int(time.time() * 1000), days * 86_400_000
    chunk = -(-n // procs)
    parts = [(redis_url, str(data_dir), owner, p * chunk, min(n, (p + 1) * chunk), n_jobs, now, span)
             for p in range(procs)]
    with mp.get_context("fork").Pool(procs) as pool:
        accepted = sum(pool.map(load_part, parts))
    elapsed = time.monotonic() - started
    if accepted != n:
        raise SystemExit(f"loaded {accepted} executions, expected {n}")
    return elapsed


# ---- the web server and the session --------------------------------------------------------------

class Gunicorn:
    def __init__(self, redis_url: str, data_dir: Path, threads: int = 4) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = data_dir / "gunicorn.log"
        self.env = dict(os.environ, REDIS_URL=redis_url, CHRONOS_DATA_DIR=str(data_dir), CHRONOS_SECRET_KEY="bench",
                        CHRONOS_ADMIN_EMAIL=EMAIL, CHRONOS_ADMIN_PASSWORD=PASSWORD)
        self.argv = [sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", "1", "--threads", str(threads),
                     "-b", self.url.removeprefix("http://"), "--chdir", str(ROOT), "--timeout", "120",
                     "app:create_app()"]
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "Gunicorn":
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=str(ROOT), stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited:\n{self.log.read_text()[-3000:]}")
            try:
                if requests.get(self.url + "/api/health", timeout=2).ok:
                    return self
            except requests.RequestException:
                time.sleep(0.3)
        raise SystemExit("gunicorn did not come up")

    def __exit__(self, *exc: Any) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def sign_in(url: str) -> requests.Session:
    s = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', s.get(url + "/login").text).group(1)
    resp = s.post(url + "/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token, "next": "/"},
                  allow_redirects=False)
    if resp.status_code != 302:
        raise SystemExit(f"sign-in failed: {resp.status_code}")
    return s


# ---- callback payloads ---------------------------------------------------------------------------

def P(id_: Any, prop: str, value: Any = None) -> dict[str, Any]:  # noqa: N802 - reads like the browser's JSON
    return {"id": id_, "property": prop, "value": value}


def call(outputs: list[tuple[str, str]], inputs: list[Any], state: list[Any] | None = None) -> dict[str, Any]:
    outs = [{"id": i, "property": p} for i, p in outputs]
    output = (f"{outputs[0][0]}.{outputs[0][1]}" if len(outs) == 1 else
              ".." + "...".join(f"{i}.{p}" for i, p in outputs) + "..")
    body = {"output": output, "outputs": outs[0] if len(outs) == 1 else outs, "inputs": inputs,
            "changedPropIds": [], "parsedChangedPropsIds": []}
    if state:
        body["state"] = state
    return body


def payloads(job_id: str, exec_id: str, busiest: list[str]) -> list[tuple[str, str, dict[str, Any]]]:
    live = [P(shell.poll, "n_intervals"), P(shell.live_event, "data")]
    ov = [(overview.kpis, "children"), (overview.runs_chart, "figure"), (overview.failing, "children"),
          (overview.feed, "children")]
    runs_out = [(analytics.runs_chart, "figure"), (analytics.totals, "children")]
    no_dates = [P(analytics.start, "value"), P(analytics.end, "value")]

    def day(offset: int) -> str:
        return time.strftime("%Y-%m-%d", time.gmtime(time.time() + offset * 86400))

    jb = [(jobs.table, "children"), (jobs.page, "max_value"), (jobs.page, "active_page"), (jobs.total, "children")]

    def jobs_in(q: str = "", status: str = "__any__", sort: str = "name", page: int = 1) -> list[Any]:
        return [P(jobs.search, "value", q), P(jobs.status, "value", status), P(jobs.tag, "value", "__any__"),
                P(jobs.app, "value", "__any__"), P(jobs.sort, "value", sort), P(jobs.page_size, "value", "25"),
                P(jobs.page, "active_page", page), *live]

    def explore(q: str = "", job_: str = "", status: list[str] | None = None, rng: str = "168",
                page: int = 1) -> dict[str, Any]:
        return call([(explorer.table, "children"), (explorer.total, "children"), (explorer.page, "max_value"),
                     (explorer.page, "active_page"), (explorer.sync, "data")],
                    [P(explorer.q, "value", q), P(explorer.job, "value", job_),
                     P(explorer.status, "value", status or []), P(explorer.range, "value", rng),
                     P(explorer.page, "active_page", page)])

    def job_runs(status: str = "__any__", page: int = 1) -> dict[str, Any]:
        return job_call([(job.table, "children"), (job.page, "max_value"), (job.page, "active_page")],
                        [P(job.status, "value", status), P(job.page, "active_page", page)])

    def job_call(outputs: list[tuple[str, str]], middle: list[Any]) -> dict[str, Any]:
        return call(outputs, [P(job.id, "data", job_id), *middle, *live])

    return [
        ("Overview", "refresh (24 h)", call(ov, [P(overview.range, "value", "24"), *live])),
        ("Overview", "refresh (7 days)", call(ov, [P(overview.range, "value", "168"), *live])),
        ("Overview", "refresh (30 days)", call(ov, [P(overview.range, "value", "720"), *live])),
        ("Jobs", "load_facets", call([(jobs.tag, "options"), (jobs.app, "options")], [P(jobs.table, "id", jobs.table)],
                                     [P(jobs.tag, "value", "__any__"), P(jobs.app, "value", "__any__")])),
        ("Jobs", "refresh (first page)", call(jb, jobs_in())),
        ("Jobs", "refresh (search 'billing')", call(jb, jobs_in(q="billing"))),
        ("Jobs", "refresh (failed, most failing)", call(jb, jobs_in(status="failed", sort="failures"))),
        ("Jobs", "refresh (page 30, last run)", call(jb, jobs_in(sort="-lastRunAt", page=30))),
        ("Job", "refresh_job", job_call([(job.header, "children"), (job.info, "children"), (job.kpis, "children"),
                                         (job.versions, "children")], [])),
        ("Job", "refresh_charts (24 h)", job_call([(job.duration_chart, "figure"), (job.runs_chart, "figure")],
                                                  [P(job.range, "value", "24")])),
        ("Job", "refresh_charts (30 days)", job_call([(job.duration_chart, "figure"), (job.runs_chart, "figure")],
                                                     [P(job.range, "value", "720")])),
        ("Job", "refresh_executions", job_runs()),
        ("Job", "refresh_executions (failed)", job_runs(status="failed")),
        ("Job", "refresh_executions (page 50)", job_runs(page=50)),
        ("Execution", "show", call([(execution.body, "children")], [P(execution.id, "data", exec_id)])),
        ("Executions", "search (7 days)", explore()),
        ("Executions", "search (any time)", explore(rng="all")),
        ("Executions", "search (7 days, page 400)", explore(page=400)),
        ("Executions", "search ('timeout', failed+timeout)", explore(q="timeout", status=["failed", "timeout"])),
        ("Executions", "search (one job, 30 days)", explore(job_=job_id, rng="720")),
        ("Analytics", "refresh_runs (30 days, day)", call(
            runs_out, [P(analytics.range, "value", "30"), P(analytics.period, "value", "day"), *no_dates])),
        ("Analytics", "refresh_runs (1 year, month)", call(
            runs_out, [P(analytics.range, "value", "365"), P(analytics.period, "value", "month"), *no_dates])),
        ("Analytics", "refresh_runs (custom 2 weeks, week)", call(
            runs_out, [P(analytics.range, "value", "custom"), P(analytics.period, "value", "week"),
                       P(analytics.start, "value", day(-14)), P(analytics.end, "value", day(0))])),
        ("Analytics", "load_jobs", call([(analytics.jobs, "options"), (analytics.jobs, "value")],
                                        [P(analytics.range, "id", analytics.range)])),
        ("Analytics", "refresh_distribution (6 jobs, 30 d)", call(
            [(analytics.distribution, "figure")],
            [P(analytics.jobs, "value", busiest), P(analytics.range, "value", "30"), *no_dates],
            [P(analytics.jobs, "options", [{"label": j, "value": j} for j in busiest])])),
        ("Analytics", "refresh_heatmap (90 days)", call(
            [(analytics.heatmap, "figure")],
            [P(analytics.range, "value", "90"), P(analytics.heatmap_metric, "value", "rate"), *no_dates])),
        ("Settings", "manage_keys", call([(settings.keys, "children"), (settings.created, "children"),
                                          (settings.message, "children"), (settings.snippet, "children"),
                                          (settings.create, "disabled")],
                                         [P(settings.create, "n_clicks"), []],
                                         [P(settings.key_name, "value"), P(settings.key_scopes, "value", ["ingest"])])),
        ("Admin", "manage_users", call([(admin.users, "children"), (admin.message, "children")],
                                       [P(admin.refresh, "n_clicks"), [], []])),
        ("Admin", "refresh_system", call([(admin.system, "children"), (admin.rate_chart, "figure")],
                                         [P(admin.refresh, "n_clicks"), P(shell.poll, "n_intervals")])),
        ("Profile", "show", call([(profile.info, "children")], [P(profile.submit, "id", profile.submit)])),
    ]


def time_calls(session: requests.Session, url: str, cases: list[tuple[str, str, dict[str, Any]]],
               iterations: int) -> list[tuple[str, str, list[float]]]:
    results = []
    for page, name, body in cases:
        times = []
        for i in range(iterations + 1):
            t0 = time.perf_counter()
            resp = session.post(url + "/_dash-update-component", json=body, timeout=120)
            elapsed = (time.perf_counter() - t0) * 1000
            if resp.status_code not in (200, 204):
                raise SystemExit(f"{page} / {name}: HTTP {resp.status_code}: {resp.text[:500]}")
            if i:  # the first call warms caches and connections
                times.append(elapsed)
        results.append((page, name, times))
    return results


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def print_table(results: list[tuple[str, str, list[float]]], goal_ms: float) -> None:
    print(f"\n{'page':<11} {'callback':<40} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    print("-" * 79)
    for page, name, times in results:
        p95 = pct(times, 0.95)
        flag = "" if p95 <= goal_ms else "  > goal"
        print(f"{page:<11} {name:<40} {statistics.median(times):8.1f} {p95:8.1f} {max(times):8.1f}{flag}")
    over = sum(1 for *_, t in results if pct(t, 0.95) > goal_ms)
    print(f"\n{len(results)} callbacks, {len(results) - over} within p95 <= {goal_ms:.0f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="executions to load (default 1,000,000)")
    ap.add_argument("--jobs", type=int, default=1_000, help="jobs (default 1,000)")
    ap.add_argument("--days", type=int, default=30, help="spread of finish times (default 30 days)")
    ap.add_argument("--procs", type=int, default=2, help="loader processes (default 2)")
    ap.add_argument("--iterations", type=int, default=20, help="timed calls per callback (default 20)")
    ap.add_argument("--goal-ms", type=float, default=300.0)
    ap.add_argument("--redis-url", default="", help="use this Redis Stack (its database is flushed) instead")
    ap.add_argument("--skip-load", action="store_true", help="time against the data already in --redis-url")
    ap.add_argument("--keep", action="store_true", help="leave the embedded Redis data directory in place")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="chronos-dash-bench-"))
    embedded = None
    try:
        if args.redis_url:
            redis_url = args.redis_url
        else:
            embedded = EmbeddedRedis(tmp / "redis-data", port=free_port(), appendfsync="no")
            embedded.start()
            redis_url = embedded.url
        r = redis.Redis.from_url(redis_url, protocol=2)
        if not args.skip_load:
            r.flushdb()
        ensure_schema(r)
        owner = ensure_bootstrap(r, settings_for(redis_url, tmp))["id"]
        if not args.skip_load:
            print(f"loading {args.n:,} executions over {args.jobs:,} jobs with {args.procs} processes ...", flush=True)
            elapsed = load(redis_url, tmp, owner, args.n, args.jobs, args.days, args.procs)
            print(f"loaded in {elapsed:,.1f} s ({args.n / elapsed:,.0f} executions/s); "
                  f"Redis used_memory {r.info('memory')['used_memory_human']}", flush=True)
        job_id = job_ids(args.jobs)[0]
        exec_id = exec_store.search_executions(r, exec_store.ExecutionQuery(owner=owner, job_id=job_id,
                                                                            limit=1)).items[0]["execId"]
        busiest = job_ids(args.jobs)[:6]
        users.create_key(r, owner, name="bench")  # the settings page lists something
        with Gunicorn(redis_url, tmp) as server:
            session = sign_in(server.url)
            results = time_calls(session, server.url, payloads(job_id, exec_id, busiest), args.iterations)
        print_table(results, args.goal_ms)
    finally:
        if embedded is not None:
            embedded.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"data kept in {tmp}")


if __name__ == "__main__":
    main()
