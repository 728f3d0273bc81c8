"""The ``chronos`` command: run the product and administer it.

    chronos up [--port 8050] [--data-dir DIR] [--demo]   everything in the foreground
    chronos serve [--port 8050]                          the web server only
    chronos demo seed|trickle [--url URL --key KEY]      demo data through the HTTP API
    chronos users create EMAIL [--role admin|member|viewer] [--password P]
    chronos keys create EMAIL [--name N] [--scopes ingest,read] | list EMAIL | revoke KEY_ID
    chronos ingest-queue status|dead|requeue             queued ingestion: backlog, dead letters, put them back
    chronos exec --job ID -- command args...             run a command and report it (the SDK's wrapper)
    chronos scheduler [--max-sleep 1.0] [--fire-ahead 2] one scheduler process
    chronos batch-runner [--concurrency N]               one batch runner process
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Sequence

from chronos.config import Settings


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "data_dir", None):
        overrides["CHRONOS_DATA_DIR"] = os.path.abspath(args.data_dir)
    return Settings.load(overrides)


def _redis(settings: Settings):
    from chronos.db import connect
    from chronos.store.schema import ensure_schema

    r = connect(settings)
    ensure_schema(r)
    return r


def cmd_up(args: argparse.Namespace) -> int:
    from chronos.supervisor import Supervisor

    return Supervisor(_settings(args), port=args.port, host=args.host, demo=args.demo, workers=args.workers).run()


def cmd_serve(args: argparse.Namespace) -> int:
    from chronos.db import ensure_embedded_running, redis_url
    from chronos.supervisor import default_web_workers, gunicorn_argv

    settings = _settings(args)
    # Without REDIS_URL the embedded server is started if needed and left running for later starts.
    ensure_embedded_running(settings)
    os.environ["REDIS_URL"] = redis_url(settings)
    os.environ["CHRONOS_DATA_DIR"] = str(settings.data_dir)
    os.execv(sys.executable, gunicorn_argv(settings, args.host, args.port, args.workers or default_web_workers()))
    return 0  # not reached


def cmd_demo(args: argparse.Namespace) -> int:
    from chronos import demo

    argv = [args.action, "--url", args.url, "--key", args.key or os.environ.get("CHRONOS_API_KEY", "")]
    return demo.main(argv)


def cmd_users(args: argparse.Namespace) -> int:
    from chronos.store import users

    r = _redis(_settings(args))
    if args.action == "create":
        password = args.password or os.environ.get("CHRONOS_NEW_PASSWORD") or getpass.getpass("Password: ")
        if len(password) < 8:
            print("error: the password needs at least 8 characters", file=sys.stderr)
            return 2
        try:
            doc = users.create_user(r, args.email, password, role=args.role)
        except users.UserExists:
            print(f"error: {args.email} is already registered", file=sys.stderr)
            return 1
        print(f"created {doc['role']} {doc['email']} ({doc['id']})")
        return 0
    for u in users.list_users(r):
        print(f"{u['id']}  {u['role']:<7} {'disabled' if u.get('disabled') else 'active  '} {u['email']}")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from chronos.store import users

    r = _redis(_settings(args))
    if args.action == "revoke":
        ok = users.revoke_key(r, None, args.target)
        print("revoked" if ok else f"error: no key {args.target}", file=sys.stdout if ok else sys.stderr)
        return 0 if ok else 1
    user = users.find_user_by_email(r, args.target)
    if user is None:
        print(f"error: no user {args.target}", file=sys.stderr)
        return 1
    if args.action == "create":
        scopes = tuple(s.strip() for s in args.scopes.split(",") if s.strip())
        try:
            secret, key = users.create_key(r, user["id"], name=args.name, scopes=scopes)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{secret}\n(key {key.id}, scopes {','.join(key.scopes)}; shown once, store it now)")
        return 0
    for k in users.list_keys(r, user["id"]):
        state = "revoked" if k.revoked else "active"
        print(f"{k.id}  {k.prefix}…  {state:<7}  {','.join(k.scopes):<18} {k.name}")
    return 0


def cmd_ingest_queue(args: argparse.Namespace) -> int:
    from chronos.store import ingest_queue
    from chronos.timeutil import now_ms

    settings = _settings(args)
    r = _redis(settings)
    if args.action == "requeue":
        print(f"put {ingest_queue.requeue_dead(r, args.count)} dead-lettered batch(es) back in the queue")
        return 0
    if args.action == "dead":
        dead = ingest_queue.dead(r, args.count)
        for d in dead:
            print(f"{d['id']}  {d['owner']}  {d['executions']} execution(s)  {d['error']}")
        if not dead:
            print("no dead-lettered batches")
        return 0
    b = ingest_queue.backlog(r, now_ms())
    mode = "on" if settings.chronos_ingest_queue else "off in this environment (CHRONOS_INGEST_QUEUE)"
    print(f"queued ingestion {mode}: {b['batches']} batch(es) waiting, oldest {b['oldestMs'] / 1000:.1f} s; "
          f"{b['dead']} dead-lettered")
    return 0


def cmd_exec(argv: list[str]) -> int:
    try:
        from chronos_sdk.cli import exec_main
    except ImportError:
        print("error: `chronos exec` needs the SDK: pip install -e ./sdk", file=sys.stderr)
        return 2
    return exec_main(argv)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chronos", description="Chronos Synapse: visibility into scheduled jobs.")
    sub = p.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run redis (when embedded), the web server and the workers in the foreground")
    up.add_argument("--port", type=int, default=int(os.environ.get("CHRONOS_PORT", 8050)))
    up.add_argument("--host", default=os.environ.get("CHRONOS_HOST", "127.0.0.1"))
    up.add_argument("--data-dir")
    up.add_argument("--workers", type=int, default=None, help="gunicorn workers (CHRONOS_WEB_WORKERS; 2 per core)")
    up.add_argument("--demo", action="store_true", help="seed demo data on first start and keep a live trickle")
    up.set_defaults(func=cmd_up)

    serve = sub.add_parser("serve", help="run the web server only (gunicorn)")
    serve.add_argument("--port", type=int, default=int(os.environ.get("CHRONOS_PORT", 8050)))
    serve.add_argument("--host", default=os.environ.get("CHRONOS_HOST", "127.0.0.1"))
    serve.add_argument("--data-dir")
    serve.add_argument("--workers", type=int, default=None, help="gunicorn workers (CHRONOS_WEB_WORKERS; 2 per core)")
    serve.set_defaults(func=cmd_serve)

    demo = sub.add_parser("demo", help="seed demo history or run a live trickle through the HTTP API")
    demo.add_argument("action", choices=["seed", "trickle"])
    demo.add_argument("--url", default=os.environ.get("CHRONOS_ENDPOINT", "http://127.0.0.1:8050"))
    demo.add_argument("--key")
    demo.set_defaults(func=cmd_demo)

    us = sub.add_parser("users", help="create or list users")
    us.add_argument("action", choices=["create", "list"])
    us.add_argument("email", nargs="?")
    us.add_argument("--role", choices=["admin", "member", "viewer"])
    us.add_argument("--password")
    us.add_argument("--data-dir")
    us.set_defaults(func=cmd_users)

    ks = sub.add_parser("keys", help="create, list or revoke API keys")
    ks.add_argument("action", choices=["create", "list", "revoke"])
    ks.add_argument("target", help="a user's email (create, list) or a key id (revoke)")
    ks.add_argument("--name", default="cli")
    ks.add_argument("--scopes", default="ingest,read")
    ks.add_argument("--data-dir")
    ks.set_defaults(func=cmd_keys)

    iq = sub.add_parser("ingest-queue", help="queued ingestion: the backlog, dead-lettered batches, requeue them")
    iq.add_argument("action", choices=["status", "dead", "requeue"], nargs="?", default="status")
    iq.add_argument("--count", type=int, default=100, help="dead letters listed or put back at most")
    iq.add_argument("--data-dir")
    iq.set_defaults(func=cmd_ingest_queue)

    sub.add_parser("exec", help="run a command and report it: chronos exec --job ID -- cmd args")
    sub.add_parser("scheduler", help="run a scheduler process (fires schedules, watches jobs, sends alerts)")
    sub.add_parser("batch-runner", help="run a batch runner process (delivers NDJSON batch records)")
    return p


def _delegate(argv: list[str]) -> int | None:
    """Verbs whose process lives in its own package: the wrapper, the scheduler, the batch runner."""
    if not argv:
        return None
    if argv[0] == "exec":
        return cmd_exec(argv[1:])
    if argv[0] == "scheduler":
        from scheduler.__main__ import main as scheduler_main

        return scheduler_main(argv[1:])
    if argv[0] == "batch-runner":
        from batch_runner.__main__ import main as runner_main

        return runner_main(argv[1:])
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    delegated = _delegate(argv)
    if delegated is not None:
        return delegated
    args = build_parser().parse_args(argv)
    if args.command == "users" and args.action == "create" and not args.email:
        print("error: users create needs an EMAIL", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except Exception as exc:  # noqa: BLE001 - a CLI prints the reason, not a traceback
        from chronos.db import RedisUnavailable

        if isinstance(exc, RedisUnavailable):
            print(f"error: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
