#!/usr/bin/env python
"""Load benchmark: ingestion, dashboard reads and the live stream together, then an exact count check.

    python bench/load.py                    # 300 s: 8 ingest clients paced to 5,200 executions/s in batches of
                                            # 200, 4 dashboard readers, 3 stream clients
    python bench/load.py --quick            # 20 s (CI / make bench)
    python bench/load.py --quick --rate 0 --batch 100   # flat out, in the SDK's default batch size

1. Starts its own Redis Stack (embedded, temp dir, free port, AOF everysec as production) and its own web
   server as production runs it: ``gunicorn -k gthread -w <2 per core> --threads 16 --no-control-socket
   'app:create_app()'`` (``chronos serve``'s choice) with the per-key rate limit off (one key carries the
   whole load).
2. For ``--seconds`` (300; 20 with ``--quick``), all at once, in separate client processes:
   * ``--clients`` ingest clients (threads with one keep-alive session each) posting batches of ``--batch``
     final executions with unique execIds to ``POST /api/ingest/executions/batch`` — paced to ``--rate``
     executions/s in total (5,200), or back to back with ``--rate 0``. A batch that fails (connection error, 429, 5xx) is sent again,
     identical, until it is acknowledged (HTTP 200) or the deadline passes; ingestion is idempotent by execId.
   * ``--readers`` dashboard readers cycling through ``GET /api/jobs``, ``/api/executions?q=...``,
     ``/api/analytics/summary`` and ``/api/analytics/timeseries?metric=runs&bucket=1m&jobId=...``, with
     ``--think`` seconds between requests.
   * ``--streams`` SSE clients on ``GET /api/stream``, connected before the first batch and reading until
     they have seen every acknowledged execution (or ``--drain`` seconds after the end without progress).
3. Reports sustained executions/s (over the window, and the slowest 10-second slice), ingest latency
   p50/p99/max per request, read latency p50/p99 per endpoint, errors, events received per stream client,
   the CPU the web server and Redis used (executions per CPU-second), Redis memory per execution, and the
   load average of the machine before and after.
4. Verifies that every acknowledged execution is stored exactly once:
   executions index total == acknowledged == sum of the ``_all`` runs series (1m tier) == the summary's
   runs == the sum of the jobs' ``totalRuns``. (Executions of a batch that was never acknowledged are
   looked up one by one and counted apart: stored-but-unacknowledged is neither loss nor duplicate.)

Exit status 1 on any loss or duplicate (or a failed start); the throughput and latency goals (5,000
executions/s, p99 ingest <= 250 ms, zero errors) are reported, not asserted: the machine is shared.
The last line is ``RESULT {json}`` with every figure, for ``make bench`` / ``make soak``.

The client roles are in bench/load_clients.py, the figures, the count check and the ``--collect`` table in
bench/load_report.py, the servers in bench/servers.py.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import requests  # noqa: E402
from load_clients import (  # noqa: E402  (bench/load_clients.py)
    API_KEY,
    GOAL_P99_MS,
    GOAL_RATE,
    Run,
    job_definitions,
    web_server,
)
from load_report import (  # noqa: E402  (bench/load_report.py)
    collect,
    exists_count,
    owner_of,
    report,
    rounded,
    summarize,
    verify,
)
from chronos.supervisor import WEB_THREADS, default_web_workers  # noqa: E402
from servers import (  # noqa: E402  (bench/servers.py)
    BenchError,
    Gunicorn,
    exit_on_sigterm,
    loadavg,
    log,
    redis_cpu,
    start_redis,
)

from chronos.redis_server import EmbeddedRedis  # noqa: E402
from chronos.store import ingest_queue  # noqa: E402


class ForkWatch(threading.Thread):
    """The seconds of the run during which Redis had a fork child alive (AOF rewrite, save, RediSearch GC),
    polled four times a second: slow requests are then told apart by whether a child was copying memory."""

    def __init__(self, url: str, t0: float) -> None:
        super().__init__(daemon=True)
        self.r, self.t0, self.seconds, self.done = redis.Redis.from_url(url), t0, set(), threading.Event()
        self.cpu: dict[int, float] = {}  # the server thread's CPU seconds at each 10-second mark of the run
        self.backlog: list[tuple[int, int]] = []  # queued ingestion: (batches waiting, oldest's age ms) samples

    def run(self) -> None:
        while not self.done.wait(0.25):
            try:
                info = self.r.info("persistence")
                at = time.time() - self.t0
                if at >= 0:
                    b = ingest_queue.backlog(self.r, int(time.time() * 1000))
                    self.backlog.append((b["batches"], b["oldestMs"]))
                if at >= 0 and int(at) % 10 == 0 and int(at) not in self.cpu:
                    cpu = self.r.info("cpu")
                    self.cpu[int(at)] = float(cpu["used_cpu_user_main_thread"]) + float(cpu["used_cpu_sys_main_thread"])
            except (redis.RedisError, KeyError):
                continue
            if any(int(info.get(f, 0)) for f in ("aof_rewrite_in_progress", "rdb_bgsave_in_progress",
                                                  "module_fork_in_progress")):
                self.seconds.add(int(time.time() - self.t0))

    def lag(self) -> dict[str, float]:
        """Queued ingestion: the most batches waiting, and the age of the oldest waiting batch (p50, p99, max
        over the samples): how long after its acknowledgement an execution was still not recorded, at most."""
        if not self.backlog:
            return {}
        ages = sorted(a for _, a in self.backlog)
        return {"queue_max_batches": max(b for b, _ in self.backlog), "queue_age_p50_ms": ages[len(ages) // 2],
                "queue_age_p99_ms": ages[min(len(ages) - 1, int(len(ages) * 0.99))], "queue_age_max_ms": ages[-1]}

    def busy(self) -> str:
        """How busy the server thread was in each 10-second slice, in percent of one core."""
        marks = sorted(self.cpu)
        return ", ".join(f"{a}-{b} s: {(self.cpu[b] - self.cpu[a]) / (b - a) * 100:.0f} %"
                         for a, b in zip(marks, marks[1:]))


def spans(seconds: set[int]) -> str:
    """``{3, 4, 5, 9}`` -> ``"3-5, 9"``."""
    out: list[str] = []
    for s in sorted(seconds):
        if out and s == int(out[-1].split("-")[-1]) + 1:
            out[-1] = f"{out[-1].split('-')[0]}-{s}"
        else:
            out.append(str(s))
    return ", ".join(out) or "never"


def blocked_report(slowlog: list[dict[str, Any]], latency: list[Any], t0: float) -> str:
    """One line: the commands that held Redis over 50 ms (by name: count, longest, seconds of the run),
    then the server's latency events (``LATENCY LATEST``: event, worst ms)."""
    by_name: dict[str, list[tuple[int, int]]] = {}
    for e in slowlog:
        name = (e["command"].split() or [b"?"])[0]
        name = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
        by_name.setdefault(name.upper(), []).append((int(e["duration"]), int(e["start_time"] - t0)))
    parts = [f"{name} x{len(v)} (longest {max(d for d, _ in v) / 1000:.0f} ms; at s "
             f"{', '.join(str(s) for _, s in sorted(v, key=lambda x: x[1])[:12])}{'...' if len(v) > 12 else ''})"
             for name, v in sorted(by_name.items(), key=lambda kv: -len(kv[1]))]
    events = [f"{ev[0].decode() if isinstance(ev[0], bytes) else ev[0]} worst {ev[3]} ms" for ev in latency]
    return ("Redis commands over 50 ms: " + ("; ".join(parts) if parts else "none") +
            "; latency events over 50 ms: " + (", ".join(events) if events else "none"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=None, help="length of the load (default 300; 20 with --quick)")
    p.add_argument("--quick", action="store_true", help="20 s unless --seconds is given")
    p.add_argument("--clients", type=int, default=8, help="ingest clients (default 8)")
    p.add_argument("--client-procs", type=int, default=2, help="processes the ingest clients are spread over (2)")
    p.add_argument("--batch", type=int, default=200,
                   help="executions per request (default 200; the SDK sends up to its batch_size, 100 by default)")
    p.add_argument("--rate", type=float, default=5200.0,
                   help="pace ingestion to this many executions/s in total (default 5,200, just above the goal; "
                        "0: as fast as they go)")
    p.add_argument("--readers", type=int, default=4, help="dashboard readers (default 4)")
    p.add_argument("--think", type=float, default=0.5, help="mean seconds between a reader's requests (0.5)")
    p.add_argument("--streams", type=int, default=3, help="SSE clients on /api/stream (default 3)")
    p.add_argument("--drain", type=float, default=10.0,
                   help="seconds a stream client keeps reading after the end without a new event (10)")
    p.add_argument("--timeout", type=float, default=30.0, help="client request timeout, seconds (30)")
    p.add_argument("--workers", type=int, default=None,
                   help="gunicorn workers (default: as `chronos serve` picks them, 2 per core: 4 here)")
    p.add_argument("--threads", type=int, default=WEB_THREADS, help=f"gunicorn threads per worker ({WEB_THREADS})")
    p.add_argument("--direct", action="store_true",
                   help="record in the request (CHRONOS_INGEST_QUEUE off) instead of queued ingestion")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (Redis data, gunicorn log)")
    p.add_argument("--collect", metavar="LOG_DIR", type=Path,
                   help="run nothing: print the table of the benchmark logs in LOG_DIR (make bench / soak)")
    p.add_argument("--section", default="bench", help="with --collect: the block of --doc to replace (bench, soak)")
    p.add_argument("--doc", type=Path, help="with --collect: the markdown file whose block is replaced")
    args = p.parse_args(argv)
    if args.seconds is None:
        args.seconds = 20.0 if args.quick else 300.0
    if args.seconds <= 0 or args.clients < 1 or not 1 <= args.batch <= 1000 or args.client_procs < 1:
        p.error("--seconds > 0, --clients >= 1, --client-procs >= 1 and --batch 1..1000 are required")
    args.client_procs = min(args.client_procs, args.clients)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.collect:
        print(collect(args.collect, args.section, args.doc))
        return 0
    exit_on_sigterm()
    tmp = Path(tempfile.mkdtemp(prefix="chronos-load-"))
    embedded: EmbeddedRedis | None = None
    web: Gunicorn | None = None
    run: Run | None = None
    load_before = loadavg()
    try:
        embedded = start_redis(tmp / "redis-data")
        r = redis.Redis.from_url(embedded.url, protocol=2)
        log(f"Redis {r.info('server').get('redis_version')} (embedded, port {embedded.port}, appendfsync everysec)")
        # What held the server thread: every command over 50 ms, and the server's own latency events (fork,
        # AOF write...) over 50 ms, reported after the run.
        r.config_set("slowlog-log-slower-than", 50_000)
        r.config_set("slowlog-max-len", 10_000)
        r.config_set("latency-monitor-threshold", 50)
        web = web_server(embedded.url, tmp, workers=args.workers or default_web_workers(), threads=args.threads,
                         extra_env={"CHRONOS_INGEST_QUEUE": "0" if args.direct else "1"})
        web.start()
        log(f"web: gunicorn {' '.join(web.argv[3:])} -> {web.url}; ingestion "
            f"{'direct (recorded in the request)' if args.direct else 'queued (CHRONOS_INGEST_QUEUE=1)'}")
        resp = requests.post(web.url + "/api/ingest/jobs/register", json={"jobs": job_definitions()},
                             headers={"x-api-key": API_KEY}, timeout=30)
        if resp.status_code != 200:
            raise BenchError(f"job registration failed: HTTP {resp.status_code}: {resp.text[:300]}")
        owner = owner_of(r)
        run_id = f"{int(time.time()):x}"
        run = Run(args, [web.url], run_id)
        run.start()
        r.config_resetstat()
        mem0, rcpu0, wcpu0 = int(r.info("memory")["used_memory"]), redis_cpu(r), web.cpu_seconds()
        t0 = run.go()
        fork_watch = ForkWatch(embedded.url, t0)
        fork_watch.start()
        log(f"load: {args.clients} ingest clients (batches of {args.batch}"
            f"{f', paced to {args.rate:,.0f}/s' if args.rate else ', back to back'}), {args.readers} readers, "
            f"{args.streams} stream clients for {args.seconds:.0f} s; load average before {load_before}")
        cpu_at_end: dict[str, float] = {}
        commands: dict[str, Any] = {}
        forks: dict[str, int] = {}
        blocked: list[dict[str, Any]] = []
        latency: list[Any] = []
        drained: dict[str, float] = {}

        def ingest_done(_acked: int) -> None:
            # Queued ingestion: what was acknowledged is recorded once the queue is empty; the CPU and the counts
            # are taken after that.
            drained["s"] = ingest_queue.wait_empty(r, timeout=300)[1]
            cpu_at_end.update(redis=redis_cpu(r), web=web.cpu_seconds() if web else 0.0)
            cpu_at_end["mem"] = int(r.info("memory")["used_memory"])
            commands.update(r.info("commandstats"))
            blocked.extend(r.slowlog_get(10_000))
            latency.extend(r.execute_command("LATENCY", "LATEST"))
            stats, persistence = r.info("stats"), r.info("persistence")
            forks.update(total=int(stats.get("total_forks", 0)), latest_us=int(stats.get("latest_fork_usec", 0)),
                         aof_rewrites=int(persistence.get("aof_rewrites", 0)))

        results = run.collect(ingest_done)
        fork_watch.done.set()
        load_after = loadavg()
        fig = summarize(args, results)
        fig.update(fork_watch.lag(), queue_drain_s=round(drained.get("s", 0.0), 2), queued=not args.direct)
        report(args, fig)
        if not args.direct:
            log(f"queued ingestion: at most {fig.get('queue_max_batches', 0)} batches waiting; the oldest waiting "
                f"batch's age p50 {fig.get('queue_age_p50_ms', 0)} ms, p99 {fig.get('queue_age_p99_ms', 0)} ms, max "
                f"{fig.get('queue_age_max_ms', 0)} ms; the queue was empty {fig['queue_drain_s']:.2f} s after the "
                "last acknowledgement")

        redis_s = cpu_at_end["redis"] - rcpu0
        web_s = cpu_at_end["web"] - wcpu0
        acked = fig["acknowledged"]
        per_core = acked / (redis_s + web_s) if redis_s + web_s > 0 else 0.0
        mem_per_exec = (cpu_at_end["mem"] - mem0) / acked if acked else 0.0
        log(f"server CPU during the load: web {web_s:.1f} s + Redis {redis_s:.1f} s = "
            f"{acked / max(1e-9, web_s):,.0f} executions per web CPU-second, {acked / max(1e-9, redis_s):,.0f} per "
            f"Redis CPU-second, {per_core:,.0f} per server CPU-second")
        if fig["client_cpu_s"]:
            log("load generator CPU (same machine): " + ", ".join(f"{role} {v:.1f} s" for role, v in
                                                                 fig["client_cpu_s"].items()))
        log(f"Redis memory: +{(cpu_at_end['mem'] - mem0) / 1e6:.1f} MB = {mem_per_exec:,.0f} bytes per execution")
        top = sorted(commands.items(), key=lambda kv: -kv[1]["usec"])[:6]
        log("Redis time per acknowledged execution (commands inside scripts are counted again on their own): " +
            ", ".join(f"{name.removeprefix('cmdstat_')} {v['usec'] / max(1, acked):.0f} µs ({v['calls'] / max(1, acked):.2f}"
                      " calls)" for name, v in top))
        slow = fig["slow_by_10s"]
        log(f"ingest requests over {GOAL_P99_MS:.0f} ms: {sum(slow.values()):,}" +
            (" (by 10-second slice: " + ", ".join(f"{k}-{k + 10} s: {v}" for k, v in sorted(slow.items())) + ")"
             if slow else "") +
            f"; Redis forked {forks.get('total', 0)} times ({forks.get('aof_rewrites', 0)} AOF rewrites; "
            f"RediSearch GC and saves the rest), the last fork took {forks.get('latest_us', 0) / 1000:.0f} ms")
        slow_by_s = fig.pop("slow_by_s")
        in_fork = sum(v for k, v in slow_by_s.items() if k in fork_watch.seconds)
        fig["fork_seconds"], fig["slow_in_fork"] = len(fork_watch.seconds), in_fork
        log(f"a Redis fork child was alive during {len(fork_watch.seconds)} s of the {args.seconds:.0f} s "
            f"({spans(fork_watch.seconds)}); "
            f"{in_fork:,} of the {sum(slow_by_s.values()):,} requests over {GOAL_P99_MS:.0f} ms came in those seconds")
        log(blocked_report(blocked, latency, t0))
        log(f"Redis server thread busy by 10-second slice: {fork_watch.busy() or 'not sampled'}")
        log(f"load average before {load_before}, after {load_after}")

        unacked = [(c["client"], c["unacked"]) for c in results["ingest"] if c["unacked"]]
        stored_unacked = exists_count(r, owner, run_id, unacked, args.batch) if unacked else 0
        counts, problems = verify(r, web.url, owner, acked, stored_unacked, int(t0 * 1000))
        log("counts: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        goal = (fig["rate"] >= GOAL_RATE and fig["ingest_p99_ms"] <= GOAL_P99_MS and fig["ingest_errors"] == 0
                and fig["queue_full_answers"] == 0
                and fig.get("read_errors", 0) == 0 and not problems)
        log(f"goal (>= {GOAL_RATE:,.0f}/s, p99 ingest <= {GOAL_P99_MS:.0f} ms, zero errors, zero loss): "
            f"{'met' if goal else 'NOT met'} on this machine (load average {load_after})")
        for p in problems:
            log(f"VERIFICATION FAILED: {p}")
        if not problems:
            log(f"verified: {counts['index']:,} executions stored, each exactly once "
                f"(index = acknowledged = _all 1m runs = summary runs = jobs' totalRuns)")
        record = {"bench": "load", "seconds": args.seconds, "clients": args.clients, "batch": args.batch,
                  "rate_target": args.rate, "readers": args.readers, "streams": args.streams, **fig,
                  "web_cpu_s": round(web_s, 1), "redis_cpu_s": round(redis_s, 1),
                  "exec_per_server_cpu_s": round(per_core), "redis_bytes_per_exec": round(mem_per_exec),
                  "counts": counts, "verified": not problems, "goal_met": goal,
                  "loadavg_before": load_before, "loadavg_after": load_after,
                  "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        log("RESULT " + json.dumps(rounded(record), separators=(",", ":")))
        return 0 if not problems else 1
    except BenchError as exc:
        log(f"bench failed: {exc}")
        return 1
    finally:
        if run is not None:
            run.stop()
        if web is not None:
            web.stop()
        if embedded is not None:
            embedded.stop()
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
