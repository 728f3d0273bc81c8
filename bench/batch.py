#!/usr/bin/env python
"""Batch runner benchmark: records/s of the runner (1 and 2 processes) against a bare async HTTP client.

    python bench/batch.py                  # 100,000 records, concurrency 128
    python bench/batch.py --n 20000        # quicker
    python bench/batch.py --sink python    # the asyncio sink instead of nginx

1. Starts its own Redis Stack (embedded, temp dir, free port; or ``--redis-url`` to an empty database that
   it flushes) and a fast local sink: nginx from Debian (``apt-get install nginx-light``; ``return 200`` on
   every path, one worker, no access log) when it is installed, else ``python -m batch_runner.sink``.
2. Runner runs: N records (``{"id": i, "payload": "{...}"}``, ~60-byte bodies) are submitted through the
   same streaming code the web process uses, held out of the active set while 1 (then 2) ``python -m
   batch_runner`` processes start and register, then released. The rate is N over the batch's own
   startedAt -> finishedAt, and the counts are checked (delivered == N, nothing failed or pending).
3. Bare client runs: the same N bodies from memory, sent by 1 (then 2) processes with the runner's HTTP
   client and the same total concurrency, and no Redis and no bookkeeping at all; also with aiohttp.

Prints each rate and the runner/bare ratios. It asserts no speed; the exit status is non-zero only when a
run fails or a count does not hold.
"""
from __future__ import annotations

import argparse
import asyncio
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
import redis  # noqa: E402

from chronos import keys  # noqa: E402
from chronos.batches.lua import BatchScripts  # noqa: E402
from chronos.batches.submit import submit  # noqa: E402
from chronos.config import Settings  # noqa: E402
from chronos.redis_server import EmbeddedRedis, free_port  # noqa: E402

NGINX_CONF = """worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {{ listen 127.0.0.1:{port}; location / {{ return 200 "ok"; }} }}
}}
"""


def log(msg: str) -> None:
    print(msg, flush=True)


def body_of(i: int) -> bytes:
    return orjson.dumps({"user_id": f"user_{i:06d}", "action": "purchase", "amount": 99.99, "n": i})


# ---- the sink ------------------------------------------------------------------------------------

def start_sink(kind: str, workdir: str) -> tuple[subprocess.Popen, int, str]:
    port = free_port()
    if kind in ("auto", "nginx") and shutil.which("nginx"):
        conf = Path(workdir) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(d=workdir, port=port))
        proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", workdir])
        name = "nginx (1 worker)"
    elif kind == "nginx":
        raise SystemExit("nginx is not installed (apt-get install nginx-light), or use --sink python")
    else:
        proc = subprocess.Popen([sys.executable, "-m", "batch_runner.sink", "--port", str(port)], cwd=str(ROOT),
                                stdout=subprocess.DEVNULL)
        name = "python -m batch_runner.sink (uvloop)"
    import socket

    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, port, name
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("the sink did not start")
            time.sleep(0.05)


# ---- bare client ---------------------------------------------------------------------------------

async def _bare(n: int, start: int, concurrency: int, port: int, client: str) -> tuple[float, float, int]:
    bodies = [body_of(i) for i in range(start, start + n)]
    ok = 0
    it = iter(bodies)
    if client == "native":
        from batch_runner.http import ConnectionPool, Origin, build_head

        pool = ConnectionPool()
        origin = Origin("http", "127.0.0.1", port)
        head = build_head("POST", "/hook", origin, {})

        async def worker() -> None:
            nonlocal ok
            for body in it:
                status, _ = await pool.request(origin, head, body, 10.0)
                ok += 200 <= status < 300

        t0 = time.time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        t1 = time.time()
        pool.close()
        return t0, t1, ok
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        url = f"http://127.0.0.1:{port}/hook"

        async def worker() -> None:
            nonlocal ok
            for body in it:
                async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
                    await resp.read()
                    ok += 200 <= resp.status < 300

        t0 = time.time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return t0, time.time(), ok


def bare_worker(argv: list[str]) -> None:
    n, start, concurrency, port = (int(x) for x in argv[:4])
    try:
        import uvloop

        t0, t1, ok = uvloop.run(_bare(n, start, concurrency, port, argv[4]))
    except ImportError:
        t0, t1, ok = asyncio.run(_bare(n, start, concurrency, port, argv[4]))
    print(orjson.dumps({"t0": t0, "t1": t1, "ok": ok}).decode(), flush=True)


def run_bare(n: int, procs: int, concurrency: int, port: int, client: str) -> float:
    per = n // procs
    children = [subprocess.Popen([sys.executable, __file__, "--bare-worker", str(per), str(i * per),
                                  str(concurrency // procs), str(port), client], stdout=subprocess.PIPE)
                for i in range(procs)]
    results = [orjson.loads(c.communicate()[0].strip().splitlines()[-1]) for c in children]
    if sum(x["ok"] for x in results) != per * procs:
        raise SystemExit(f"bare client: only {sum(x['ok'] for x in results)} of {per * procs} answered 2xx")
    return per * procs / (max(x["t1"] for x in results) - min(x["t0"] for x in results))


# ---- runner --------------------------------------------------------------------------------------

def run_runner(r: redis.Redis, settings: Settings, n: int, procs: int, concurrency: int, port: int) -> float:
    r.flushdb()
    config = {"protocol": "http", "host": "127.0.0.1", "port": str(port), "path": "/hook",
              "concurrency": concurrency}
    lines = [orjson.dumps(config)] + [orjson.dumps({"id": i, "payload": body_of(i).decode()}) for i in range(n)]
    sub = submit(r, BatchScripts(r), "bench", io.BytesIO(b"\n".join(lines) + b"\n"), settings)
    r.srem(keys.active_batches(), sub.batch_id)  # held back until every runner is up
    env = dict(os.environ, REDIS_URL=settings.redis_url, CHRONOS_OUTBOUND_ALLOW="127.0.0.1")
    runners = [subprocess.Popen([sys.executable, "-m", "batch_runner", "--log-level", "warning"], cwd=str(ROOT),
                                env=env) for _ in range(procs)]
    try:
        deadline = time.monotonic() + 30
        while r.scard(keys.batch_runners()) < procs:
            if time.monotonic() > deadline:
                raise SystemExit("the runners did not register")
            time.sleep(0.05)
        time.sleep(1.2)  # a heartbeat round, so that each runner knows how many share the batch
        r.sadd(keys.active_batches(), sub.batch_id)
        deadline = time.monotonic() + 600
        while r.hget(keys.batch(sub.batch_id), "state") != b"completed":
            if time.monotonic() > deadline:
                raise SystemExit("the batch did not complete")
            time.sleep(0.05)
    finally:
        for p in runners:
            p.terminate()
        for p in runners:
            p.wait(30)
    h = {k.decode(): v.decode() for k, v in r.hgetall(keys.batch(sub.batch_id)).items()}
    if int(h["delivered"]) != n or int(h["failed"]) or int(h["total"]) != n:
        raise SystemExit(f"runner: counts do not hold: {h}")
    return n / ((int(h["finishedAt"]) - int(h["startedAt"])) / 1000.0)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--bare-worker":
        bare_worker(sys.argv[2:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=128, help="total requests in flight")
    parser.add_argument("--sink", choices=("auto", "nginx", "python"), default="auto")
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--no-aiohttp", action="store_true", help="skip the aiohttp reference runs")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="chronos-bench-batch-")
    embedded = None
    if not args.redis_url:
        embedded = EmbeddedRedis(Path(workdir) / "redis", port=free_port())
        embedded.start()
    url = args.redis_url or embedded.url
    settings = Settings.load({"REDIS_URL": url, "CHRONOS_OUTBOUND_ALLOW": "127.0.0.1"})
    r = redis.Redis.from_url(url, protocol=2)
    sink, port, sink_name = start_sink(args.sink, workdir)
    try:
        log(f"batch bench: {args.n} records, total concurrency {args.concurrency}, sink {sink_name}, "
            f"{os.cpu_count()} cores")
        rates = {}
        for procs in (1, 2):
            rates[f"bare native x{procs}"] = run_bare(args.n, procs, args.concurrency, port, "native")
            log(f"  bare client (runner's HTTP client), {procs} process(es): {rates[f'bare native x{procs}']:>9,.0f} req/s")
            if not args.no_aiohttp:
                rates[f"bare aiohttp x{procs}"] = run_bare(args.n, procs, args.concurrency, port, "aiohttp")
                log(f"  bare client (aiohttp),               {procs} process(es): "
                    f"{rates[f'bare aiohttp x{procs}']:>9,.0f} req/s")
            rates[f"runner x{procs}"] = run_runner(r, settings, args.n, procs, args.concurrency, port)
            log(f"  batch runner,                        {procs} process(es): {rates[f'runner x{procs}']:>9,.0f} records/s")
        log("ratios (runner / bare client with the same HTTP client and process count):")
        for procs in (1, 2):
            log(f"  {procs} process(es): {rates[f'runner x{procs}'] / rates[f'bare native x{procs}']:.2f}")
        if not args.no_aiohttp:
            log("runner / bare aiohttp client: " + ", ".join(
                f"{p} process(es) {rates[f'runner x{p}'] / rates[f'bare aiohttp x{p}']:.2f}" for p in (1, 2)))
        log(f"goal: >= 8,000 records/s with 2 runner processes: {'met' if rates['runner x2'] >= 8000 else 'NOT met'}"
            f" ({rates['runner x2']:,.0f})")
    finally:
        sink.terminate()
        sink.wait(10)
        r.close()
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
