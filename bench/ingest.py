#!/usr/bin/env python
"""Ingestion benchmark: the HTTP API as production serves it vs. a bare redis-py pipeline.

    python bench/ingest.py                 # 100,000 executions, 4 clients, batches of 500
    python bench/ingest.py --quick         # 10,000 (CI smoke)
    python bench/ingest.py --n 50000 --clients 8 --redis-url redis://127.0.0.1:6379/0

1. Starts its own Redis Stack (embedded, temp dir, free port; or ``--redis-url``, which must point
   at an empty database 0: the benchmark flushes it) and its own web server the way production runs
   it: ``gunicorn -k gthread -w 2 --threads 8 'app:create_app()'`` with the per-key rate limit off.
2. API run: N executions, pre-built into batches of 500 and encoded with orjson before the clock
   starts, posted by K client threads (one ``requests.Session`` each) to
   ``POST /api/ingest/executions/batch``. Afterwards it checks that the executions index holds exactly
   N documents and that every tier of the ``_all`` runs series sums to N.
3. Baseline: FLUSHDB, schema and jobs re-created, then the same stored documents written by K threads
   with plain redis-py pipelines (500 executions each): the commands the record script runs for a chunk
   of new final executions — per execution JSON.SET of the document, EXPIRE and XADD; per job one JSON.SET
   NX and one JSON.MERGE (last run and counters, folded as the script does); one TS.ADD per series bucket
   the chunk touched (sums and maxima added up); one PUBLISH — with no HTTP, no validation, no Lua and no
   idempotency check. Two flavours (``--raw``): ``encoded``, the commands RESP-encoded before the clock starts (as
   the API run's JSON is) and sent on redis-py connections, every reply read and checked; and
   ``pipeline``, a plain ``Pipeline.execute()`` that packs the commands inside the clock (client-bound
   in Python). Each is verified like the API run.

Prints the rates, the ratios API/raw, Redis ``used_memory`` growth and Redis CPU per execution.
It asserts no speed; the exit status is non-zero only when a run fails or a verification does not hold.
The events and the raw commands are built in bench/ingest_workload.py.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import requests  # noqa: E402
from ingest_workload import (  # noqa: E402  (bench/ingest_workload.py)
    RawItem,
    RawWriter,
    api_payloads,
    job_definitions,
    make_events,
)
from servers import BenchError, Gunicorn, log, redis_cpu, start_redis  # noqa: E402  (bench/servers.py)

from chronos import keys  # noqa: E402
from chronos.config import Settings  # noqa: E402
from chronos.redis_server import EmbeddedRedis  # noqa: E402
from chronos.store import jobs as job_store  # noqa: E402
from chronos.store import users  # noqa: E402
from chronos.store.schema import ensure_schema  # noqa: E402

API_KEY = "chr_bench_" + "k" * 30
ADMIN_EMAIL = "bench@example.com"
ADMIN_PASSWORD = "bench-password-1"


# ---- processes -----------------------------------------------------------------------------------

def web_server(redis_url: str, data_dir: Path, workers: int = 2, threads: int = 8) -> Gunicorn:
    """``gunicorn -k gthread -w 2 --threads 8 'app:create_app()'`` on a free port, as production runs it."""
    return Gunicorn(redis_url, data_dir, key=API_KEY, admin=(ADMIN_EMAIL, ADMIN_PASSWORD), secret="bench-secret",
                    workers=workers, threads=threads, name="gunicorn")


# ---- the two runs --------------------------------------------------------------------------------

def run_threads(count: int, work: Callable[[int], None]) -> float:
    """Run ``work(i)`` in ``count`` threads started together; the wall time of the slowest. Re-raises."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(count + 1)

    def target(i: int) -> None:
        barrier.wait()
        try:
            work(i)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise BenchError(f"{len(errors)} client(s) failed; first: {errors[0]!r}")
    return elapsed


def api_run(url: str, payloads: list[bytes], clients: int) -> tuple[float, int]:
    lock = threading.Lock()
    cursor = [0]
    created = [0]
    headers = {"x-api-key": API_KEY, "Content-Type": "application/json"}
    sessions = [requests.Session() for _ in range(clients)]
    for s in sessions:  # connect before the clock starts
        s.get(url + "/api/health", timeout=10)

    def work(i: int) -> None:
        s = sessions[i]
        while True:
            with lock:
                j = cursor[0]
                cursor[0] += 1
            if j >= len(payloads):
                return
            resp = s.post(url + "/api/ingest/executions/batch", data=payloads[j], headers=headers, timeout=300)
            if resp.status_code != 200:
                raise BenchError(f"batch {j}: HTTP {resp.status_code}: {resp.text[:300]}")
            body = resp.json()
            with lock:
                created[0] += int(body["created"])

    elapsed = run_threads(clients, work)
    for s in sessions:
        s.close()
    return elapsed, created[0]


def _next(lock: threading.Lock, cursor: list[int]) -> int:
    with lock:
        j = cursor[0]
        cursor[0] += 1
    return j


def raw_pipeline_run(r: redis.Redis, writer: RawWriter, items: list[RawItem], clients: int, batch: int) -> float:
    """Plain ``Pipeline.execute()`` per 500 executions: redis-py packs the commands inside the timing."""
    chunks = [items[i:i + batch] for i in range(0, len(items), batch)]
    lock, cursor = threading.Lock(), [0]
    r.ping()

    def work(_i: int) -> None:
        while (j := _next(lock, cursor)) < len(chunks):
            pipe = r.pipeline(transaction=False)
            for args in writer.batch_commands(chunks[j]):
                pipe.execute_command(*args)
            pipe.execute(raise_on_error=True)

    return run_threads(clients, work)


def raw_encoded_run(r: redis.Redis, writer: RawWriter, items: list[RawItem], clients: int, batch: int,
                    round_size: int = 25_000) -> float:
    """The same pipelines with their commands RESP-encoded before the clock starts (as the API run's JSON
    is), sent on redis-py connections; every reply is read and checked. Encoded a round at a time to bound
    memory; only the sending rounds are timed."""
    pool = r.connection_pool
    conns = [pool.get_connection() for _ in range(clients)]
    try:
        total = 0.0
        for start in range(0, len(items), round_size):
            part = items[start:start + round_size]
            chunks = []
            for i in range(0, len(part), batch):
                cmds = writer.batch_commands(part[i:i + batch])
                chunks.append((conns[0].pack_commands(cmds), len(cmds)))
            lock, cursor = threading.Lock(), [0]

            def work(i: int, chunks: list[tuple[list[bytes], int]] = chunks,
                     lock: threading.Lock = lock, cursor: list[int] = cursor) -> None:
                conn = conns[i]
                while (j := _next(lock, cursor)) < len(chunks):
                    packed, count = chunks[j]
                    conn.send_packed_command(packed)
                    first_error = None
                    for _ in range(count):
                        try:
                            conn.read_response()
                        except redis.ResponseError as exc:
                            first_error = first_error or exc
                    if first_error is not None:
                        raise BenchError(f"raw pipeline: {first_error}")

            total += run_threads(clients, work)
        return total
    finally:
        for c in conns:
            pool.release(c)


def verify(r: redis.Redis, owner: str, n: int, label: str) -> list[str]:
    """Problems found (empty when the index holds exactly N executions and each runs tier sums to N)."""
    problems = []
    total = int(r.execute_command("FT.SEARCH", keys.IDX_EXECUTIONS, "*", "LIMIT", 0, 0, "DIALECT", 2)[0])
    if total != n:
        problems.append(f"{label}: executions index holds {total} documents, expected {n}")
    for tier in keys.TIERS:
        rows = r.execute_command("TS.RANGE", keys.series(owner, keys.ALL_JOBS_SCOPE, "runs", tier), "-", "+",
                                 "AGGREGATION", "sum", 10 ** 13)
        runs = int(sum(float(v) for _, v in rows))
        if runs != n:
            problems.append(f"{label}: _all runs series ({tier}) sums to {runs}, expected {n}")
    return problems


def used_memory(r: redis.Redis) -> int:
    return int(r.info("memory")["used_memory"])


# ---- main ----------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=None, help="executions (default 100,000; 10,000 with --quick)")
    p.add_argument("--clients", type=int, default=4, help="concurrent clients, API and raw (default 4)")
    p.add_argument("--batch", type=int, default=500, help="executions per request / pipeline (default 500)")
    p.add_argument("--redis-url", default=None,
                   help="use this Redis Stack (an EMPTY database 0: it is flushed) instead of an embedded one")
    p.add_argument("--quick", action="store_true", help="CI smoke: n=10,000 unless --n is given")
    p.add_argument("--raw", choices=("both", "encoded", "pipeline"), default="both",
                   help="baseline(s) to run: commands pre-encoded before the clock (encoded), plain "
                        "Pipeline.execute() packing inside the clock (pipeline), or both (default)")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    p.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker (default 8)")
    args = p.parse_args(argv)
    if args.n is None:
        args.n = 10_000 if args.quick else 100_000
    if args.n < 1 or args.clients < 1 or not 1 <= args.batch <= 1000:
        p.error("--n and --clients must be >= 1, --batch between 1 and 1000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="chronos-bench-"))
    embedded: EmbeddedRedis | None = None
    web: Gunicorn | None = None
    try:
        if args.redis_url:
            redis_url = args.redis_url
            probe = redis.Redis.from_url(redis_url, protocol=2)
            if probe.dbsize():
                raise BenchError(f"{redis_url} is not empty ({probe.dbsize()} keys); the benchmark flushes it, "
                                 "so point it at an empty Redis Stack (database 0)")
            where = redis_url
        else:
            embedded = start_redis(tmp / "redis-data")
            redis_url = embedded.url
            where = f"embedded Redis Stack on port {embedded.port}"
        r = redis.Redis.from_url(redis_url, protocol=2)
        info = r.info("server")
        log(f"Redis {info.get('redis_version')} ({where})")

        web = web_server(redis_url, tmp, workers=args.workers, threads=args.threads)
        web.start()
        log(f"web: {' '.join(web.argv[2:])} -> {web.url}")
        settings = Settings.load(environ=web.env)
        key = users.lookup_key(r, API_KEY)
        if key is None:
            raise BenchError("the bootstrap API key was not created by the server")
        owner = key.owner
        resp = requests.post(web.url + "/api/ingest/jobs/register", json={"jobs": job_definitions()},
                             headers={"x-api-key": API_KEY}, timeout=30)
        if resp.status_code != 200:
            raise BenchError(f"job registration failed: HTTP {resp.status_code}: {resp.text[:300]}")

        now = int(time.time() * 1000)
        run_id = f"{now:x}"
        t = time.perf_counter()
        events = make_events(args.n, run_id, now)
        payloads = api_payloads(events, args.batch)
        log(f"built {args.n:,} executions in {len(payloads)} batches "
            f"({sum(map(len, payloads)) / args.n:.0f} bytes of JSON each) in {time.perf_counter() - t:.1f}s")

        # (a) the HTTP API
        mem0, cpu0 = used_memory(r), redis_cpu(r)
        log(f"API run: {args.clients} clients ...")
        api_s, created = api_run(web.url, payloads, args.clients)
        mem1, api_cpu = used_memory(r), redis_cpu(r) - cpu0
        problems = verify(r, owner, args.n, "API")
        if created != args.n:
            problems.append(f"API: the server reported {created} executions created, expected {args.n}")
        api_bytes = (mem1 - mem0) / args.n
        web.stop()
        del payloads

        # (b) the same documents through bare redis-py pipelines, twice
        raw: dict[str, tuple[float, float, float]] = {}
        runners = {"encoded": raw_encoded_run, "pipeline": raw_pipeline_run}
        for name, runner in runners.items():
            if args.raw not in ("both", name):
                continue
            r.flushdb()
            ensure_schema(r)
            job_store.upsert(r, owner, [dict(d) for d in job_definitions()])
            writer = RawWriter(owner, settings, int(time.time() * 1000))
            items = [writer.item(ev, settings) for ev in events]
            mem_a, cpu_a = used_memory(r), redis_cpu(r)
            log(f"raw run ({name}): {args.clients} threads ...")
            seconds = runner(r, writer, items, args.clients, args.batch)
            raw[name] = (seconds, (used_memory(r) - mem_a) / args.n, redis_cpu(r) - cpu_a)
            problems += verify(r, owner, args.n, f"raw {name}")
            del items
        if args.redis_url:
            r.flushdb()

        api_rate = args.n / api_s
        labels = {"encoded": f"raw redis-py, pre-encoded ({args.clients} threads)",
                  "pipeline": f"raw redis-py Pipeline.execute ({args.clients} thr.)"}
        rows = [(f"HTTP API (gunicorn -w {args.workers}, {args.clients} clients)", api_s, api_cpu)]
        rows += [(labels[name], secs, cpu) for name, (secs, _, cpu) in raw.items()]
        log("")
        log(f"{'path':<48}{'executions':>12}{'seconds':>10}{'executions/s':>14}{'Redis CPU µs/exec':>19}")
        for label, secs, cpu in rows:
            log(f"{label:<48}{args.n:>12,}{secs:>10.2f}{args.n / secs:>14,.0f}{cpu / args.n * 1e6:>19,.0f}")
        ratios = ", ".join(f"{api_rate / (args.n / secs):.2f} (vs. {name})" for name, (secs, _, _) in raw.items())
        log(f"ratio API/raw: {ratios}")
        raw_mem = ", ".join(f"{b:,.0f} bytes ({name})" for name, (_, b, _) in raw.items())
        log(f"Redis memory per execution after the API run: {api_bytes:,.0f} bytes "
            f"(used_memory +{(mem1 - mem0) / 1e6:.1f} MB); after the raw run: {raw_mem}")
        if problems:
            for p in problems:
                log(f"VERIFICATION FAILED: {p}")
            return 1
        log(f"verified: every run stored exactly {args.n:,} executions and counted {args.n:,} runs in every tier")
        return 0
    except BenchError as exc:
        log(f"bench failed: {exc}")
        return 1
    finally:
        if web is not None:
            web.stop()
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
