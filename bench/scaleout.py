#!/usr/bin/env python
"""Scale-out simulation on one machine: 2 web servers, 2 schedulers and 2 batch runners against one Redis.

    python bench/scaleout.py                 # 120 s
    python bench/scaleout.py --quick         # 20 s (make bench)
    python bench/scaleout.py --seconds 300 --web-workers 2

1. Starts one Redis Stack (embedded, temp dir, free port, AOF everysec) and, against it:
   * two web servers: two ``gunicorn -k gthread -w W --threads 32 'app:create_app()'`` instances on two
     ports (``--web-workers``, default 1 each: the same two workers bench/load.py runs in one instance);
     queued ingestion on (each server its own data dir, as on two hosts, so each runs a recorder; `--direct`
     records in the request);
   * two schedulers: ``python -m scheduler --max-sleep 1`` (the production entry point, server-side jobs on);
   * two batch runners: ``python -m batch_runner``, and a local sink (``python -m batch_runner.sink``).
2. A second user registers ``--fire-jobs`` jobs on ``--schedule`` (every 2 seconds) through web server 2;
   one batch of ``--records`` NDJSON records is submitted through web server 1, paced by its ``rateLimit``
   to last most of the window.
3. For ``--seconds`` the load of bench/load.py runs with every client spread over both web servers:
   ingest clients (odd ones on server 2), dashboard readers and SSE stream clients.
4. Verifies and reports: ingest throughput and latency, every acknowledged execution stored exactly once
   (index = acknowledged = ``_all`` 1m runs = summary runs = jobs' totalRuns), every due time of the
   fired jobs dispatched exactly once (from the second user's ``job:trigger`` entries: duplicates, gaps,
   lag, and each scheduler's share from the fire logs), the batch delivered with exact counts, and each
   process's CPU seconds.

Exit status 1 on any lost or duplicated execution, any duplicate fire, or a batch count that does not hold.
Gaps (due times never fired, or coalesced because a scheduler was more than a period late) are reported.
The last line is ``RESULT {json}``.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import orjson  # noqa: E402
import redis  # noqa: E402
import requests  # noqa: E402
from load_clients import API_KEY, Run, job_definitions, web_server  # noqa: E402  (bench/load.py's clients)
from load_report import (  # noqa: E402  (bench/load.py's figures and count check)
    exists_count,
    owner_of,
    pct,
    report,
    rounded,
    summarize,
    verify,
)
from servers import (  # noqa: E402  (bench/servers.py: Redis, gunicorn, CPU figures)
    ROOT,
    BenchError,
    Gunicorn,
    exit_on_sigterm,
    loadavg,
    log,
    proc_cpu_seconds,
    redis_cpu,
    start_redis,
)

from chronos import keys  # noqa: E402
from chronos.redis_server import EmbeddedRedis, free_port  # noqa: E402
from chronos.store import ingest_queue  # noqa: E402

FIRE_KEY = "chr_scaleout_fire_" + "f" * 22


def start(argv: list[str], env: dict[str, str], out: Path) -> subprocess.Popen:
    with open(out, "ab") as fh:
        return subprocess.Popen(argv, env=env, cwd=str(ROOT), stdin=subprocess.DEVNULL, stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)


def stop(procs: list[subprocess.Popen], timeout: float = 20.0) -> list[int | None]:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    codes = []
    for p in procs:
        try:
            codes.append(p.wait(timeout))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
            codes.append(None)
    return codes


def fire_owner(r: redis.Redis) -> str:
    """A second user with its own key: its event stream carries only the fires, so none is trimmed away."""
    from chronos.store import users

    doc = users.create_user(r, "fires@example.com", "fires-password-1", role="member")
    users.create_key(r, doc["id"], scopes=("ingest", "read"), secret=FIRE_KEY)
    return doc["id"]


def submit_batch(url: str, sink_port: int, records: int, rate: float) -> str:
    config = {"primarykey": "scaleout", "host": "127.0.0.1", "port": sink_port, "path": "/deliver",
              "concurrency": 64, "retries": 3, "timeoutMs": 10_000, "rateLimit": max(1, int(rate))}
    body = b"\n".join([orjson.dumps(config)] + [orjson.dumps({"id": i, "payload": {"n": i, "kind": "scaleout"}})
                                                 for i in range(records)]) + b"\n"
    resp = requests.post(url + "/api/batches", data=body, timeout=120,
                         headers={"x-api-key": API_KEY, "Content-Type": "application/x-ndjson"})
    if resp.status_code != 202:
        raise BenchError(f"batch submission: HTTP {resp.status_code}: {resp.text[:300]}")
    return resp.headers["X-Job-ID"]


def wait_batch(url: str, batch_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        summary = requests.get(f"{url}/api/batches/{batch_id}", headers={"x-api-key": API_KEY}, timeout=30).json()
        if summary.get("state") in ("completed", "cancelled") or time.monotonic() > deadline:
            return summary
        time.sleep(0.5)


def collect_fires(r: redis.Redis, owner: str, jobs: int, lo: int, hi: int, dues: list[int]) -> dict[str, Any]:
    from chronos.scheduling import claims
    from chronos.timeutil import parse_instant

    dispatched: Counter = Counter()
    lag: list[int] = []
    for entry_id, fields in r.xrange(keys.events(owner), "-", "+"):
        if fields.get(b"type") != b"job:trigger":
            continue
        data = orjson.loads(fields[b"data"])
        due = parse_instant(data["scheduledFor"])
        if lo <= due <= hi:
            dispatched[(data["jobId"], due)] += 1
            lag.append(int(entry_id.split(b"-")[0]) - due)
    by: Counter = Counter()
    outcomes: Counter = Counter()
    for i in range(jobs):
        for e in claims.recent_fires(r, owner, f"tick-{i:03d}", claims.FIRE_LOG_MAX):
            if lo <= e["dueAt"] <= hi:
                by[e["by"].rsplit(":", 2)[-2] if e["by"].count(":") >= 2 else e["by"]] += 1
                outcomes[e["outcome"]] += 1
    expected = {(f"tick-{i:03d}", d) for i in range(jobs) for d in dues}
    return {"fires_expected": len(expected), "fires": sum(dispatched.values()),
            "duplicates": sum(c - 1 for c in dispatched.values() if c > 1),
            "gaps": len(expected - set(dispatched)), "lag_p50_ms": pct(lag, .5), "lag_p99_ms": pct(lag, .99),
            "lag_max_ms": max(lag, default=0), "fire_log_outcomes": dict(outcomes),
            "fires_by_scheduler_pid": dict(by)}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=None, help="length of the load (default 120; 20 with --quick)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--web-workers", type=int, default=1, help="gunicorn workers per web server (default 1)")
    p.add_argument("--threads", type=int, default=32, help="gunicorn threads per worker (default 32)")
    p.add_argument("--clients", type=int, default=8, help="ingest clients, spread over both servers (8)")
    p.add_argument("--client-procs", type=int, default=2)
    p.add_argument("--batch", type=int, default=100, help="executions per ingest request (100)")
    p.add_argument("--rate", type=float, default=0.0, help="pace ingestion (executions/s in total; 0: flat out)")
    p.add_argument("--readers", type=int, default=4)
    p.add_argument("--think", type=float, default=0.5)
    p.add_argument("--streams", type=int, default=2)
    p.add_argument("--drain", type=float, default=10.0)
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--fire-jobs", type=int, default=50, help="jobs the schedulers fire (default 50)")
    p.add_argument("--schedule", default="*/2 * * * * *", help="their schedule (default every 2 seconds)")
    p.add_argument("--records", type=int, default=None,
                   help="NDJSON batch records delivered by the runners (default 200 per second of load)")
    p.add_argument("--direct", action="store_true",
                   help="record in the request (CHRONOS_INGEST_QUEUE off) instead of queued ingestion")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs, Redis data)")
    p.add_argument("--sched-log-level", default="WARNING", help="the schedulers' (INFO logs ticks over 0.5 s)")
    args = p.parse_args(argv)
    if args.seconds is None:
        args.seconds = 20.0 if args.quick else 120.0
    if args.records is None:
        args.records = int(200 * args.seconds)
    args.workers = args.web_workers
    args.client_procs = max(1, min(args.client_procs, args.clients))
    return args


def main(argv: list[str] | None = None) -> int:
    from chronos.scheduling import cron, registry

    args = parse_args(argv)
    exit_on_sigterm()
    tmp = Path(tempfile.mkdtemp(prefix="chronos-scaleout-"))
    embedded: EmbeddedRedis | None = None
    webs: list[Gunicorn] = []
    workers: list[subprocess.Popen] = []
    sink: subprocess.Popen | None = None
    run: Run | None = None
    load_before = loadavg()
    try:
        embedded = start_redis(tmp / "redis-data")
        r = redis.Redis.from_url(embedded.url, protocol=2)
        log(f"Redis {r.info('server').get('redis_version')} (embedded, port {embedded.port}); "
            f"load average {load_before}")
        for i in (1, 2):
            # Each server its own data dir, as on two hosts: with queued ingestion each runs one recorder.
            web = web_server(embedded.url, tmp / f"web{i}", workers=args.web_workers, threads=args.threads,
                             name=f"web{i}", extra_env={"CHRONOS_INGEST_QUEUE": "0" if args.direct else "1"})
            web.start()
            webs.append(web)
        log(f"web servers: {webs[0].url} and {webs[1].url} (gunicorn -k gthread -w {args.web_workers} "
            f"--threads {args.threads} each)")
        env = dict(webs[0].env, PYTHONPATH=str(ROOT))
        scheds = [start([sys.executable, "-m", "scheduler", "--max-sleep", "1", "--log-level", args.sched_log_level], env,
                        tmp / f"scheduler{i}.log") for i in (1, 2)]
        runners = [start([sys.executable, "-m", "batch_runner", "--name", f"runner-{i}", "--log-level", "warning"],
                         env, tmp / f"runner{i}.log") for i in (1, 2)]
        workers = scheds + runners
        sink_port = free_port()
        sink = start([sys.executable, "-m", "batch_runner.sink", "--port", str(sink_port)], env, tmp / "sink.log")

        owner = owner_of(r)
        owner2 = fire_owner(r)
        resp = requests.post(webs[0].url + "/api/ingest/jobs/register", json={"jobs": job_definitions()},
                             headers={"x-api-key": API_KEY}, timeout=30)
        fire_defs = [{"id": f"tick-{i:03d}", "name": f"Tick {i}", "schedule": args.schedule, "graceSeconds": 3600}
                     for i in range(args.fire_jobs)]
        resp2 = requests.post(webs[1].url + "/api/ingest/jobs/register", json={"jobs": fire_defs},
                              headers={"x-api-key": FIRE_KEY}, timeout=30)
        if resp.status_code != 200 or resp2.status_code != 200:
            raise BenchError(f"registration failed: {resp.status_code} {resp.text[:200]} / "
                                  f"{resp2.status_code} {resp2.text[:200]}")
        deadline = time.monotonic() + 60
        while {n["pid"] for n in registry.list_nodes(r) if n["alive"]} < {p.pid for p in scheds}:
            if any(p.poll() is not None for p in workers) or time.monotonic() > deadline:
                raise BenchError("a scheduler or batch runner did not start (see the logs with --keep)")
            time.sleep(0.2)

        run_id = f"{int(time.time()):x}"
        run = Run(args, [w.url for w in webs], run_id)
        run.start()
        sched = cron.parse(args.schedule)
        r.config_resetstat()
        mem0, rcpu0 = int(r.info("memory")["used_memory"]), redis_cpu(r)
        wcpu0 = [w.cpu_seconds() for w in webs]
        pcpu0 = [proc_cpu_seconds(p.pid) for p in workers]
        t0 = run.go()
        lo = cron.CronCache().next_after(sched, int(t0 * 1000) + 1000)
        hi = int((t0 + args.seconds) * 1000) - 1
        dues = [lo, *cron.CronCache().fires(sched, lo, hi, 1_000_000)]
        batch_id = submit_batch(webs[0].url, sink_port, args.records, args.records / (args.seconds * 0.7))
        log(f"load: {args.clients} ingest clients, {args.readers} readers, {args.streams} stream clients over "
            f"both servers for {args.seconds:.0f} s; {args.fire_jobs} jobs firing '{args.schedule}' "
            f"({len(dues)} due times each); a batch of {args.records:,} records for the runners")
        at_end: dict[str, Any] = {}

        def ingest_done(_acked: int) -> None:
            # queued ingestion: until the recorders have stored what was acknowledged
            at_end["drain_s"] = ingest_queue.wait_empty(r, timeout=300)[1]
            at_end.update(redis=redis_cpu(r), mem=int(r.info("memory")["used_memory"]),
                          web=[w.cpu_seconds() for w in webs], procs=[proc_cpu_seconds(p.pid) for p in workers])

        results = run.collect(ingest_done)
        time.sleep(max(0.0, (hi - time.time() * 1000) / 1000) + 2.5)  # the last due time's fire
        batch = wait_batch(webs[0].url, batch_id, timeout=max(60.0, args.seconds))
        load_after = loadavg()
        codes = stop(workers)
        fig = summarize(args, results)
        fig.pop("slow_by_s")
        report(args, fig)
        fig["queued"] = not args.direct
        if not args.direct:
            fig["queue_drain_s"] = round(at_end["drain_s"], 1)
            fig["recorded_rate"] = round(fig["acknowledged"] / (args.seconds + at_end["drain_s"]))
            log(f"queued ingestion: the recorders emptied the queue {at_end['drain_s']:.1f} s after the load: "
                f"{fig['recorded_rate']:,}/s recorded over the load and the drain")
        share = [sum(c["acked"] for c in results["ingest"] if c["client"] % 2 == i) for i in (0, 1)]
        log(f"ingest share: server 1 {share[0]:,}, server 2 {share[1]:,} executions")

        fires = collect_fires(r, owner2, args.fire_jobs, lo, hi, dues)
        log(f"fires: expected {fires['fires_expected']:,}, dispatched {fires['fires']:,}, duplicates "
            f"{fires['duplicates']}, gaps {fires['gaps']}; lag p50 {fires['lag_p50_ms']:.0f} ms, p99 "
            f"{fires['lag_p99_ms']:.0f} ms, max {fires['lag_max_ms']:.0f} ms; by scheduler pid (fire logs) "
            f"{fires['fires_by_scheduler_pid']}; outcomes {fires['fire_log_outcomes']}")
        batch_ok = (batch.get("state") == "completed" and batch.get("delivered") == args.records
                    and batch.get("failed") == 0 and batch.get("pending") == 0)
        log(f"batch: {batch.get('state')}, delivered {batch.get('delivered')} of {args.records:,}, failed "
            f"{batch.get('failed')}, duplicate deliveries {batch.get('duplicateDeliveries')}, throughput "
            f"{batch.get('throughput')}/s (paced by rateLimit)")

        redis_s = at_end["redis"] - rcpu0
        web_s = [b - a for a, b in zip(wcpu0, at_end["web"])]
        proc_s = [b - a for a, b in zip(pcpu0, at_end["procs"])]
        acked = fig["acknowledged"]
        log(f"CPU seconds during the load: Redis {redis_s:.1f}, web servers {web_s[0]:.1f} + {web_s[1]:.1f}, "
            f"schedulers {proc_s[0]:.1f} + {proc_s[1]:.1f}, batch runners {proc_s[2]:.1f} + {proc_s[3]:.1f}")
        mem_per_exec = (at_end["mem"] - mem0) / acked if acked else 0.0
        unacked = [(c["client"], c["unacked"]) for c in results["ingest"] if c["unacked"]]
        stored_unacked = exists_count(r, owner, run_id, unacked, args.batch) if unacked else 0
        counts, problems = verify(r, webs[1].url, owner, acked, stored_unacked, int(t0 * 1000))
        log("counts: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        if fires["duplicates"]:
            problems.append(f"DUPLICATE FIRES: {fires['duplicates']}")
        if not batch_ok:
            problems.append(f"BATCH: {batch}")
        if any(c != 0 for c in codes[:2]):
            problems.append(f"a scheduler did not stop cleanly (exit codes {codes[:2]})")
        log(f"load average before {load_before}, after {load_after}")
        for p in problems:
            log(f"VERIFICATION FAILED: {p}")
        if not problems:
            log(f"verified: {counts['index']:,} executions each stored once over two web servers; "
                f"{fires['fires']:,} fires by two schedulers, none twice ({fires['gaps']} gaps); "
                f"{args.records:,} records delivered by two runners")
        record = {"bench": "scaleout", "seconds": args.seconds, "web_servers": 2, "web_workers": args.web_workers,
                  "schedulers": 2, "batch_runners": 2, "clients": args.clients, "batch": args.batch,
                  "readers": args.readers, **fig, "ingest_share": share, **fires,
                  "batch_delivered": batch.get("delivered"), "batch_failed": batch.get("failed"),
                  "batch_duplicate_deliveries": batch.get("duplicateDeliveries"),
                  "redis_cpu_s": round(redis_s, 1), "web_cpu_s": [round(x, 1) for x in web_s],
                  "scheduler_cpu_s": [round(x, 1) for x in proc_s[:2]],
                  "runner_cpu_s": [round(x, 1) for x in proc_s[2:]], "redis_bytes_per_exec": round(mem_per_exec),
                  "counts": counts, "verified": not problems, "loadavg_before": load_before,
                  "loadavg_after": load_after, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        log("RESULT " + json.dumps(rounded(record), separators=(",", ":")))
        return 0 if not problems else 1
    except BenchError as exc:
        log(f"bench failed: {exc}")
        return 1
    finally:
        if run is not None:
            run.stop()
        stop(workers)
        if sink is not None:
            stop([sink])
        for w in webs:
            w.stop()
        if embedded is not None:
            embedded.stop()
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
