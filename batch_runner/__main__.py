"""``python -m batch_runner``: one batch runner process (``chronos up`` starts one; run more anywhere).

    python -m batch_runner [--concurrency N] [--name NAME] [--log-level info]

Settings come from the environment (REDIS_URL, CHRONOS_BATCH_*; see chronos.config). SIGTERM or SIGINT stop it
cleanly: requests in flight finish, results are written, records not yet sent are handed to the other runners.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Sequence

from redis.asyncio import Redis

from chronos.config import Settings
from chronos.db import RedisUnavailable, connect, redis_url


async def _main(settings: Settings, args: argparse.Namespace) -> None:
    from batch_runner.runner import Runner

    r = Redis.from_url(redis_url(settings), protocol=2, health_check_interval=30)
    runner = Runner(settings, r, name=args.name, concurrency=args.concurrency)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, runner.stop)
    try:
        await runner.run(grace=args.grace)
    finally:
        await r.aclose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="batch_runner", description="Deliver NDJSON batch records.")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="requests in flight per process (default CHRONOS_BATCH_RUNNER_CONCURRENCY)")
    parser.add_argument("--name", default=None, help="consumer name (default host-pid-random)")
    parser.add_argument("--grace", type=float, default=10.0, help="seconds to finish requests on shutdown")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s batch-runner %(levelname)s %(message)s")
    settings = Settings.load()
    try:
        connect(settings).close()  # fail early, with the reason, when Redis is not usable
    except RedisUnavailable as exc:
        print(f"batch_runner: {exc}", file=sys.stderr)
        return 1
    try:
        import uvloop  # optional: about three times the request rate of the default event loop
    except ImportError:
        asyncio.run(_main(settings, args))
    else:
        uvloop.run(_main(settings, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
