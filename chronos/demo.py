"""Demo data, sent through the public HTTP API only (an API key with the ``ingest`` scope).

``seed()`` registers a realistic set of jobs and reports their last ``days`` of history through
``POST /api/ingest/executions/batch``; every execId is derived from the seed and the scheduled time,
so running it again stores nothing twice (the server is idempotent by execId). ``trickle()`` then
keeps posting a few live runs (a ``running`` event, then its finish) until it is stopped.

    python -m chronos.demo seed --url http://127.0.0.1:8050 --key chr_...
    python -m chronos.demo trickle --url http://127.0.0.1:8050 --key chr_...

This module imports nothing from the server: it is what any client of the API could do.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import random
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Sequence
from zoneinfo import ZoneInfo

import requests
from croniter import croniter

log = logging.getLogger("chronos.demo")

BATCH_SIZE = 500
MAX_EXECUTIONS = 40_000
DAY_MS = 86_400_000
MINUTE_MS = 60_000
DEFAULT_URL = "http://127.0.0.1:8050"
ORG_ID = "acme"

# ---- the demo company: three apps ------------------------------------------------------------------

APPS: dict[str, dict[str, Any]] = {
    "shop-backend": {
        "hosts": ("shop-worker-1", "shop-worker-2", "shop-worker-3"),
        "releases": (("2.13.4", 60), ("2.14.0", 19), ("2.14.1", 6)),  # (version, released N days ago)
        "root": "/srv/shop-backend",
    },
    "data-platform": {
        "hosts": ("etl-01", "etl-02"),
        "releases": (("0.41.0", 60), ("0.42.0", 24), ("0.43.2", 9)),
        "root": "/opt/data-platform",
    },
    "ops-tools": {
        "hosts": ("ops-cron-1",),
        "releases": (("1.8.0", 60), ("1.9.0", 12)),
        "root": "/opt/ops-tools",
    },
}


@dataclass(frozen=True)
class DemoJob:
    """One demo job: its registration and how its runs behave."""

    id: str
    name: str
    schedule: str
    app: str
    kind: str                       # picks the log lines and metadata of its runs
    base_ms: int                    # typical duration
    spread: float                   # lognormal sigma of the duration
    failure_rate: float
    errors: tuple[str, ...]         # error kinds (see ERRORS), the first is the usual one
    tags: tuple[str, ...]
    description: str
    timezone: str | None = None
    grace_seconds: int = 120
    max_runtime_seconds: int | None = None
    versions: tuple[tuple[str, int], ...] = (("1.0.0", 90),)  # (jobVersion, released N days ago)
    labels: tuple[str, ...] | dict[str, str] = ()
    retries: int = 0                # extra attempts after a failure
    drift: float = 0.0              # duration growth over the window (1.5: 2.5x at the end)
    failing_last: int = 0           # the last N scheduled runs fail (an ongoing incident)
    outlier_rate: float = 0.002     # runs that take ~10x longer
    timeout_rate: float = 0.0       # runs killed at maxRuntimeSeconds
    cancel_rate: float = 0.0
    remote: str = "db-primary.internal"   # the host its network errors name
    key: str = "id"                       # the key its KeyErrors name
    path: str = "/var/lib/app/data"       # the path its PermissionErrors name

    def definition(self) -> dict[str, Any]:
        version = self.versions[-1][0]
        out: dict[str, Any] = {
            "id": self.id, "name": self.name, "schedule": self.schedule, "runMode": "recurring",
            "version": version, "appId": self.app, "orgId": ORG_ID, "tags": list(self.tags),
            "description": self.description, "graceSeconds": self.grace_seconds,
            "signatureHash": hashlib.sha256(f"{self.id}:{version}".encode()).hexdigest()[:16],
        }
        if self.timezone:
            out["timezone"] = self.timezone
        if self.max_runtime_seconds:
            out["maxRuntimeSeconds"] = self.max_runtime_seconds
        return out


# Ordered so that any prefix of 20 keeps the interesting cases: the flaky job, the failing one,
# the drifting one, the bulk (every-5-minutes) jobs, timezones and weekly jobs.
CATALOG: tuple[DemoJob, ...] = (
    DemoJob("cache-warmer", "Cache warmer", "*/5 * * * *", "shop-backend", "cache", 3_200, 0.35, 0.012,
            ("TimeoutError", "ConnectionError"), ("cache", "frontend"),
            "Pre-loads the 5,000 hottest product pages into Redis so the first visitor never waits.",
            grace_seconds=60, max_runtime_seconds=120, versions=(("1.3.0", 90), ("1.4.0", 11)),
            labels={"env": "prod", "team": "web", "region": "eu-west-1"}, remote="redis-cache.internal"),
    DemoJob("queue-probe", "Checkout health probe", "*/5 * * * *", "ops-tools", "probe", 420, 0.5, 0.01,
            ("ConnectionError", "TimeoutError"), ("monitoring", "checkout"),
            "Synthetic checkout against the payment gateway sandbox; pages on-call after 3 failures.",
            grace_seconds=60, max_runtime_seconds=60, labels=("prod", "synthetic", "critical"),
            remote="api.payment-gateway.example"),
    DemoJob("etl-orders", "Hourly ETL: orders", "7 * * * *", "data-platform", "etl", 95_000, 0.18, 0.02,
            ("ValueError", "KeyError", "ConnectionError"), ("etl", "warehouse", "orders"),
            "Copies new and updated orders from the shop database into the warehouse (analytics.orders).",
            max_runtime_seconds=3_600, versions=(("3.2.0", 90), ("3.3.0", 21), ("3.3.1", 4)),
            labels={"env": "prod", "team": "data", "table": "orders"}, retries=1, drift=1.6,
            remote="warehouse.internal", key="customer_id"),
    DemoJob("payments-recon", "Payments reconciliation", "0 * * * *", "shop-backend", "payments", 48_000, 0.25,
            0.03, ("ConnectionError", "PermissionError", "KeyError"), ("payments", "finance", "critical"),
            "Matches the bank's settlement files (SFTP) against captured payments; flags mismatches.",
            max_runtime_seconds=900, versions=(("2.0.3", 90), ("2.1.0", 15)),
            labels={"env": "prod", "team": "payments", "pci": "yes"}, failing_last=4,
            remote="sftp.acmebank.example", key="settlement_ref", path="/mnt/settlements/incoming"),
    DemoJob("s3-sync", "S3 sync", "*/20 * * * *", "ops-tools", "sync", 38_000, 0.6, 0.25,
            ("ConnectionError", "TimeoutError", "PermissionError"), ("storage", "replication"),
            "Replicates s3://acme-assets to the DR bucket in eu-central-1 (rclone).",
            max_runtime_seconds=600, labels=("prod", "dr"), retries=1, timeout_rate=0.01,
            remote="s3.eu-central-1.amazonaws.com", path="/srv/rclone/acme-assets.conf"),
    DemoJob("search-reindex", "Search reindex", "*/10 * * * *", "shop-backend", "search", 21_000, 0.3, 0.015,
            ("ConnectionError", "TimeoutError"), ("search", "catalog"),
            "Incremental reindex of changed products into Elasticsearch, then swaps the read alias.",
            max_runtime_seconds=600, versions=(("4.0.1", 90), ("4.1.0", 8)), timeout_rate=0.002,
            labels={"env": "prod", "team": "search"}, cancel_rate=0.002, remote="es-cluster.internal"),
    DemoJob("nightly-db-backup", "Nightly DB backup", "30 2 * * *", "ops-tools", "backup", 1_260_000, 0.12,
            0.03, ("PermissionError", "TimeoutError"), ("backup", "database", "critical"),
            "pg_dump of the shop database, gzip, upload to s3://acme-backups with 35-day retention.",
            timezone="America/New_York", grace_seconds=900, max_runtime_seconds=7_200, timeout_rate=0.03,
            labels={"env": "prod", "team": "sre", "db": "shop"}, path="/var/backups/pg"),
    DemoJob("invoice-emails", "Invoice emails", "*/30 8-18 * * 1-5", "shop-backend", "email", 14_000, 0.4, 0.02,
            ("ConnectionError", "KeyError"), ("email", "billing"),
            "Renders and sends the invoices of orders shipped since the last run (business hours, Paris).",
            timezone="Europe/Paris", max_runtime_seconds=600, versions=(("1.7.2", 90), ("1.8.0", 17)),
            labels=("prod", "customer-facing"), retries=2, remote="smtp.sendgrid.net", key="billing_email"),
    DemoJob("ml-retrain", "ML model retrain", "0 4 * * 0", "data-platform", "ml", 2_700_000, 0.15, 0.05,
            ("ValueError", "KeyError"), ("ml", "recommendations"),
            "Weekly retrain of the product recommender on 90 days of sessions; promotes if AUC improves.",
            grace_seconds=1_800, max_runtime_seconds=14_400, versions=(("0.9.0", 90), ("0.10.0", 30)),
            labels={"env": "prod", "team": "ml", "gpu": "a10g"}, key="session_id"),
    DemoJob("sitemap-build", "Sitemap build", "0 */6 * * *", "shop-backend", "sitemap", 62_000, 0.2, 0.02,
            ("PermissionError", "KeyError"), ("seo",),
            "Builds sitemap-index.xml and its gzipped parts from the live catalog, then pings search engines.",
            max_runtime_seconds=900, labels=("prod", "seo"), path="/srv/shop-backend/public/sitemaps",
            key="slug"),
    DemoJob("log-rotation", "Log rotation", "0 0 * * *", "ops-tools", "logs", 8_500, 0.3, 0.01,
            ("PermissionError",), ("maintenance",),
            "Compresses yesterday's application logs and deletes archives older than 14 days.",
            timezone="Europe/Paris", max_runtime_seconds=600, labels={"env": "prod", "team": "sre"},
            path="/var/log/shop"),
    DemoJob("etl-customers", "Hourly ETL: customers", "17 * * * *", "data-platform", "etl", 41_000, 0.2, 0.015,
            ("KeyError", "ValueError", "ConnectionError"), ("etl", "warehouse", "customers"),
            "Copies customers (PII hashed) into analytics.customers.",
            max_runtime_seconds=1_200, versions=(("3.2.0", 90), ("3.3.0", 21)),
            labels={"env": "prod", "team": "data", "table": "customers"}, retries=1,
            remote="warehouse.internal", key="email_sha256"),
    DemoJob("metrics-rollup", "Metrics rollup", "*/15 * * * *", "data-platform", "rollup", 6_800, 0.3, 0.01,
            ("ConnectionError", "ValueError"), ("metrics", "warehouse"),
            "Rolls raw events up into 15-minute business metrics for the dashboards.",
            max_runtime_seconds=300, labels=("prod", "internal"), remote="clickhouse.internal"),
    DemoJob("session-cleanup", "Session cleanup", "*/30 * * * *", "shop-backend", "cleanup", 2_400, 0.4, 0.005,
            ("ConnectionError",), ("maintenance", "database"),
            "Deletes expired sessions and carts older than 30 days.",
            max_runtime_seconds=300, labels={"env": "prod", "team": "web"}),
    DemoJob("weekly-kpi-report", "Weekly KPI report", "0 7 * * 1", "data-platform", "report", 185_000, 0.2,
            0.04, ("KeyError", "ConnectionError"), ("reporting", "leadership"),
            "Builds the Monday KPI deck and posts it to #leadership.",
            timezone="Europe/Paris", grace_seconds=1_800, max_runtime_seconds=3_600,
            labels={"env": "prod", "team": "data"}, remote="slack.com", key="gross_margin"),
    DemoJob("abandoned-carts", "Abandoned cart reminders", "15 * * * *", "shop-backend", "email", 9_500, 0.35,
            0.02, ("ConnectionError", "KeyError"), ("email", "marketing"),
            "Emails shoppers who left items in their cart 24 hours ago (one reminder per cart).",
            max_runtime_seconds=600, labels=("prod", "customer-facing"), retries=1,
            remote="smtp.sendgrid.net", key="cart_token"),
    DemoJob("fraud-scores", "Fraud score batch", "*/30 * * * *", "data-platform", "ml_batch", 33_000, 0.25, 0.015,
            ("ValueError", "TimeoutError"), ("ml", "payments"),
            "Scores the last half-hour of orders with the fraud model; holds orders above 0.92.",
            max_runtime_seconds=900, labels={"env": "prod", "team": "ml"}, remote="feature-store.internal"),
    DemoJob("currency-rates", "Currency rates refresh", "0 6-22/2 * * *", "shop-backend", "rates", 1_300, 0.5,
            0.02, ("ConnectionError", "ValueError"), ("pricing",),
            "Fetches the ECB reference rates and updates display prices.",
            timezone="Europe/Paris", max_runtime_seconds=120, labels=("prod",), retries=2,
            remote="www.ecb.europa.eu"),
    DemoJob("newsletter", "Newsletter dispatch", "0 10 * * 2,4", "shop-backend", "email", 540_000, 0.2, 0.03,
            ("ConnectionError", "KeyError"), ("email", "marketing"),
            "Sends the Tuesday/Thursday newsletter to opted-in customers in 1,000-address chunks.",
            timezone="America/New_York", grace_seconds=900, max_runtime_seconds=5_400,
            labels={"env": "prod", "team": "growth"}, remote="smtp.sendgrid.net", key="unsubscribe_token"),
    DemoJob("db-vacuum", "DB vacuum analyze", "0 3 * * 0", "ops-tools", "cleanup", 860_000, 0.25, 0.02,
            ("TimeoutError", "PermissionError"), ("maintenance", "database"),
            "VACUUM ANALYZE of the 20 busiest tables, Sunday night.",
            grace_seconds=1_800, max_runtime_seconds=7_200, labels=("prod", "dba")),
    DemoJob("thumbnails", "Thumbnail regeneration", "45 */3 * * *", "shop-backend", "thumbs", 72_000, 0.4, 0.02,
            ("PermissionError", "ValueError"), ("media", "catalog"),
            "Regenerates thumbnails for images uploaded since the last run (WebP + AVIF).",
            max_runtime_seconds=1_800, labels={"env": "prod", "team": "web"}, path="/srv/media/cache"),
    DemoJob("cert-check", "Certificate expiry check", "0 8 * * *", "ops-tools", "probe", 3_100, 0.3, 0.01,
            ("ConnectionError",), ("monitoring", "security"),
            "Checks the TLS certificates of 42 public endpoints; warns 21 days before expiry.",
            timezone="Europe/Paris", max_runtime_seconds=300, labels=("prod", "security"),
            remote="shop.acme.example"),
    DemoJob("warehouse-export", "Warehouse export to partners", "0 1 * * *", "data-platform", "sync", 420_000,
            0.2, 0.03, ("ConnectionError", "PermissionError"), ("etl", "partners"),
            "Daily CSV export of sell-through data to the partner SFTP.",
            timezone="America/New_York", max_runtime_seconds=3_600, labels={"env": "prod", "team": "data"},
            remote="sftp.partner-retail.example", path="/exports/partners/sellthrough"),
    DemoJob("inventory-feed", "Inventory feed import", "*/30 * * * *", "shop-backend", "etl", 27_000, 0.3, 0.02,
            ("ValueError", "KeyError", "ConnectionError"), ("inventory", "suppliers"),
            "Imports the suppliers' stock CSV feeds and updates availability.",
            max_runtime_seconds=900, labels=("prod", "suppliers"), retries=1,
            remote="feeds.supplier-hub.example", key="sku"),
)

_EXTRA_TABLES = ("shipments", "refunds", "returns", "reviews", "coupons", "carriers", "stores", "suppliers",
                 "invoices", "tickets", "subscriptions", "payouts")


def demo_jobs(count: int = len(CATALOG)) -> list[DemoJob]:
    """The first ``count`` demo jobs; beyond the catalog, more hourly ETL jobs (one per table)."""
    out = list(CATALOG[:count])
    i = 0
    while len(out) < count:
        table = _EXTRA_TABLES[i % len(_EXTRA_TABLES)] + ("" if i < len(_EXTRA_TABLES) else f"_{i // len(_EXTRA_TABLES)}")
        out.append(DemoJob(
            f"etl-{table}", f"Hourly ETL: {table}", f"{(23 + 7 * i) % 60} * * * *", "data-platform", "etl",
            20_000 + 3_000 * (i % 7), 0.2, 0.02, ("ValueError", "KeyError", "ConnectionError"),
            ("etl", "warehouse", table), f"Copies {table} into analytics.{table}.", max_runtime_seconds=1_200,
            labels={"env": "prod", "team": "data", "table": table}, remote="warehouse.internal", key=f"{table}_id"))
        i += 1
    return out


# ---- errors --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Error:
    type: str
    message: str
    frames: tuple[tuple[str, int, str, str], ...]  # (file, line, function, code)
    exit_code: int
    snippet: str


def _err_connection(rng: random.Random, job: DemoJob) -> _Error:
    host = job.remote
    if rng.random() < 0.5:
        msg = (f"HTTPSConnectionPool(host='{host}', port=443): Max retries exceeded with url: /v2/batch "
               f"(Caused by NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x7f{rng.randrange(16**8):08x}>: "
               "Failed to establish a new connection: [Errno 111] Connection refused'))")
        lib = ("/usr/lib/python3.11/site-packages/requests/adapters.py", 519, "send",
               "raise ConnectionError(e, request=request)")
        etype = "requests.exceptions.ConnectionError"
    else:
        msg = f"Error connecting to {host}:{rng.choice((5432, 6379, 9200, 22, 8123))}. Connection reset by peer."
        lib = ("/usr/lib/python3.11/socket.py", 836, "create_connection", "sock.connect(sa)")
        etype = "ConnectionError"
    return _Error(etype, msg, (("client.py", 57, "fetch", f"resp = session.post(f'https://{{HOST}}/v2/batch', json=payload, timeout=30)"), lib),
                  1, f"HOST = '{host}'\n\ndef fetch(session, payload):\n    resp = session.post(f'https://{{HOST}}/v2/batch', json=payload, timeout=30)\n    resp.raise_for_status()\n    return resp.json()")


def _err_timeout(rng: random.Random, job: DemoJob) -> _Error:
    secs = rng.choice((10, 30, 60))
    return _Error("TimeoutError", f"timed out after {secs}s waiting for {job.remote}",
                  (("client.py", 88, "wait_ready", "raise TimeoutError(f'timed out after {timeout}s waiting for {host}')"),),
                  1, "def wait_ready(host, timeout=30):\n    deadline = time.monotonic() + timeout\n    while not ping(host):\n        if time.monotonic() > deadline:\n            raise TimeoutError(f'timed out after {timeout}s waiting for {host}')\n        time.sleep(1)")


def _err_key(rng: random.Random, job: DemoJob) -> _Error:
    return _Error("KeyError", f"'{job.key}'",
                  (("transform.py", 112, "normalize", f"out['{job.key}'] = record['{job.key}'].strip()"),),
                  1, f"def normalize(record):\n    out = {{'source': record['source']}}\n    out['{job.key}'] = record['{job.key}'].strip()\n    out['updated_at'] = parse_ts(record['updated_at'])\n    return out")


def _err_value(rng: random.Random, job: DemoJob) -> _Error:
    row = rng.randrange(1_000, 250_000)
    bad = rng.choice(("'N/A'", "''", "'12,50'", "'—'"))
    return _Error("ValueError", f"invalid literal for int() with base 10: {bad} (row {row})",
                  (("parse.py", 64, "parse_rows", "qty = int(row['quantity'])"),),
                  1, "def parse_rows(reader):\n    for n, row in enumerate(reader, start=2):\n        try:\n            qty = int(row['quantity'])\n        except ValueError as exc:\n            raise ValueError(f'{exc} (row {n})') from None")


def _err_permission(rng: random.Random, job: DemoJob) -> _Error:
    path = f"{job.path.rstrip('/')}/{job.id}-{rng.randrange(16**6):06x}.tmp"
    return _Error("PermissionError", f"[Errno 13] Permission denied: '{path}'",
                  (("io.py", 31, "write_atomic", "with open(tmp, 'wb') as fh:"),),
                  2, "def write_atomic(path, data):\n    tmp = f'{path}.tmp'\n    with open(tmp, 'wb') as fh:\n        fh.write(data)\n    os.replace(tmp, path)")


ERRORS: dict[str, Callable[[random.Random, DemoJob], _Error]] = {
    "ConnectionError": _err_connection, "TimeoutError": _err_timeout, "KeyError": _err_key,
    "ValueError": _err_value, "PermissionError": _err_permission,
}


def _stack(job: DemoJob, err: _Error) -> str:
    root = APPS[job.app]["root"]
    module = job.id.replace("-", "_")
    lines = ["Traceback (most recent call last):",
             f'  File "{root}/jobs/runner.py", line 41, in main',
             "    result = job.run(ctx)",
             f'  File "{root}/jobs/{module}.py", line {60 + len(job.id)}, in run',
             "    for batch in self.batches(ctx):"]
    for file, line, func, code in err.frames:
        path = file if file.startswith("/") else f"{root}/lib/{file}"
        lines += [f'  File "{path}", line {line}, in {func}', f"    {code}"]
    lines.append(f"{err.type}: {err.message}")
    return "\n".join(lines)


# ---- run content ---------------------------------------------------------------------------------

def _content(job: DemoJob, rng: random.Random, ok: bool, dur_ms: int, at_ms: int) -> tuple[list[str], list[str], dict[str, Any]]:
    """stdout lines, stderr lines and metadata of one run."""
    secs = dur_ms / 1000
    k = job.kind
    day = datetime.fromtimestamp(at_ms / 1000, timezone.utc).strftime("%Y-%m-%d")
    if k == "cache":
        n = rng.randrange(4_200, 5_000)
        out = [f"warming {n} keys (top products, category pages)", f"hit ratio before: {rng.uniform(0.55, 0.8):.2f}",
               f"warmed {n} keys in {secs:.1f}s"]
        meta = {"keysWarmed": n, "cacheNode": job.remote}
    elif k == "probe":
        ms = rng.randrange(80, 900)
        out = [f"GET https://{job.remote}/health -> 200 in {ms} ms", "POST /checkout/sandbox -> 201",
               "assertions: 7/7 passed"]
        meta = {"latencyMs": ms, "checks": 7}
    elif k == "etl":
        rows = int(rng.uniform(8_000, 60_000) * (1 + 0.5 * math.sin(at_ms / DAY_MS * 2 * math.pi)))
        dropped = rng.randrange(0, 40)
        table = job.id.split("-", 1)[-1]
        out = [f"extract: {rows} rows from shop.{table} changed since last watermark",
               f"transform: {rows - dropped} rows ({dropped} dropped: schema mismatch)",
               f"load: upserted into analytics.{table} in {secs * 0.4:.1f}s", f"watermark -> {day}T..Z"]
        meta = {"rowsProcessed": rows, "rowsDropped": dropped, "table": f"analytics.{table}"}
    elif k == "payments":
        n = rng.randrange(1_800, 4_500)
        u = rng.randrange(0, 6)
        out = [f"fetching settlement files from {job.remote}", f"parsed {n} settlement lines",
               f"matched {n - u}/{n} transactions", f"unmatched: {u} (queued for review)"]
        meta = {"settlements": n, "unmatched": u, "currency": "EUR"}
    elif k == "sync":
        n = rng.randrange(50, 4_000)
        mb = round(n * rng.uniform(0.2, 1.8), 1)
        out = [f"sync start -> {job.remote}", f"copied {n} objects ({mb} MB), skipped {rng.randrange(100_000, 180_000)} unchanged",
               f"elapsed {secs:.1f}s"]
        meta = {"objectsCopied": n, "megabytes": mb}
    elif k == "search":
        docs = rng.randrange(300, 9_000)
        out = [f"reindexing products changed since last run: {docs} docs", f"bulk: {math.ceil(docs / 500)} requests, 0 rejected",
               "alias products -> products-v7 (no swap needed)"]
        meta = {"docsIndexed": docs, "deleted": rng.randrange(0, 60)}
    elif k == "backup":
        gb = round(rng.uniform(38, 44), 2)
        out = ["pg_dump: dumping database 'shop'", f"dump size: {gb} GB (gzip level 6)",
               f"upload s3://acme-backups/pg/shop-{day}.sql.gz: {int(gb * 32)} parts",
               "retention: pruned 1 backup older than 35 days"]
        meta = {"database": "shop", "sizeBytes": int(gb * 1024 ** 3), "parts": int(gb * 32)}
    elif k == "email":
        n = rng.randrange(40, 2_500)
        b = rng.randrange(0, max(1, n // 200))
        out = [f"rendering {n} messages", f"sent {n - b}/{n} via {job.remote}", f"bounced: {b}"]
        meta = {"emailsSent": n - b, "bounced": b}
    elif k in ("ml", "ml_batch"):
        rows = rng.randrange(2_000_000, 3_000_000) if k == "ml" else rng.randrange(800, 4_000)
        auc = round(rng.uniform(0.83, 0.88), 4)
        if k == "ml":
            out = [f"features: {rows} rows, 212 columns", "epoch 1/5 loss=0.4121", "epoch 5/5 loss=0.2217",
                   f"validation AUC={auc} (prod 0.8512)", "promoted" if auc > 0.8512 else "kept production model"]
        else:
            out = [f"scoring {rows} orders", f"held {rng.randrange(0, 9)} orders above 0.92"]
        meta = {"rows": rows, "auc": auc} if k == "ml" else {"ordersScored": rows}
    elif k == "sitemap":
        urls = rng.randrange(118_000, 124_000)
        out = [f"collected {urls} URLs", f"wrote {math.ceil(urls / 50_000)} sitemap parts + index", "pinged 2 search engines"]
        meta = {"urls": urls}
    elif k == "logs":
        files = rng.randrange(18, 30)
        out = [f"compressed {files} files ({rng.randrange(800, 2400)} MB -> {rng.randrange(90, 260)} MB)",
               f"deleted {rng.randrange(15, 30)} archives older than 14 days"]
        meta = {"files": files}
    elif k == "rollup":
        events = rng.randrange(150_000, 900_000)
        out = [f"rolled up {events} events into 15-minute buckets", "upserted 48 metric rows"]
        meta = {"eventsRead": events}
    elif k == "cleanup":
        n = rng.randrange(1_000, 40_000)
        out = [f"deleted {n} expired rows", f"vacuumed {rng.randrange(3, 20)} tables"]
        meta = {"rowsDeleted": n}
    elif k == "report":
        out = ["building weekly KPI report", "rendered 12 charts", "posted to #leadership (14 recipients)"]
        meta = {"charts": 12, "recipients": 14}
    elif k == "rates":
        out = [f"fetched {rng.randrange(30, 32)} reference rates from {job.remote}", "updated 4 display price lists"]
        meta = {"rates": 31}
    elif k == "thumbs":
        n = rng.randrange(20, 900)
        out = [f"found {n} new images", f"generated {n * 6} thumbnails (webp, avif)"]
        meta = {"images": n}
    else:
        out = ["started", "done"]
        meta = {}
    out = [f"[{job.id}] {line}" for line in out]
    err: list[str] = []
    if ok and rng.random() < 0.08:
        err.append(rng.choice((f"WARNING slow query ({rng.randrange(1200, 9000)} ms) on {job.remote}",
                               "DeprecationWarning: datetime.utcnow() is deprecated",
                               "WARNING retrying request after HTTP 503 (attempt 2/5)")))
    if not ok:
        out = out[: max(1, len(out) // 2)]
        meta = {k2: v for k2, v in list(meta.items())[:1]}
    return out, err, meta


def _version_at(releases: Sequence[tuple[str, int]], at_ms: int, now: int) -> str:
    current = releases[0][0]
    for version, days_ago in releases:
        if at_ms >= now - days_ago * DAY_MS:
            current = version
    return current


def _labels(job: DemoJob, attempt: int) -> list[str] | dict[str, str]:
    if isinstance(job.labels, dict):
        out = dict(job.labels)
        if attempt > 1:
            out["retry"] = str(attempt - 1)
        return out
    out_list = list(job.labels)
    if attempt > 1:
        out_list.append("retry")
    return out_list


def _event(job: DemoJob, rng: random.Random, *, exec_id: str, started: int, dur: int, status: str,
           attempt: int, now: int, error_kind: str | None = None, running: bool = False) -> dict[str, Any]:
    app = APPS[job.app]
    ev: dict[str, Any] = {
        "execId": exec_id, "jobId": job.id, "status": "running" if running else status, "startedAt": started,
        "attempt": attempt, "host": rng.choice(app["hosts"]), "labels": _labels(job, attempt),
        "jobVersion": _version_at(job.versions, started, now), "appVersion": _version_at(app["releases"], started, now),
        "appId": job.app, "pid": rng.randrange(2_000, 60_000),
    }
    if running:
        ev["stdout"] = f"[{job.id}] started on {ev['host']} (attempt {attempt})"
        return ev
    ev["finishedAt"] = started + dur
    ev["durationMs"] = dur
    ok = status == "success"
    out, err, meta = _content(job, rng, ok, dur, started)
    if status in ("failed", "timeout") or status == "cancelled":
        if status == "timeout":
            e = _Error("TimeoutError", f"exceeded maxRuntimeSeconds={job.max_runtime_seconds}: killed with SIGTERM",
                       (), 124, "")
            ev["exitCode"] = 124
            ev["errorType"], ev["errorMessage"] = e.type, e.message
            err.append(f"SIGTERM received after {dur // 1000}s, shutting down")
        elif status == "cancelled":
            ev["exitCode"] = 130
            ev["errorMessage"] = "cancelled by operator (ops@acme.example)"
            err.append("KeyboardInterrupt: cancelled")
        else:
            e = ERRORS[error_kind or job.errors[0]](rng, job)
            ev["exitCode"] = e.exit_code
            ev["errorType"], ev["errorMessage"] = e.type, e.message
            ev["errorStack"] = _stack(job, e)
            ev["codeSnippet"], ev["codeLanguage"] = e.snippet, "python"
            err += [f"ERROR {e.type}: {e.message}", "job failed, see errorStack"]
    else:
        ev["exitCode"] = 0
    ev["stdout"] = "\n".join(out)
    if err:
        ev["stderr"] = "\n".join(err)
    ev["metadata"] = meta
    ev["cpuTimeMs"] = int(dur * rng.uniform(0.2, 0.9))
    ev["peakMemoryKb"] = rng.randrange(60_000, 900_000)
    return ev


# ---- history -------------------------------------------------------------------------------------

def _fire_times(job: DemoJob, start_ms: int, end_ms: int) -> list[int]:
    """Scheduled times in (start_ms, end_ms], in the job's timezone (DST included)."""
    tz = ZoneInfo(job.timezone or "UTC")
    it = croniter(job.schedule, datetime.fromtimestamp(start_ms / 1000, tz))
    out = []
    while True:
        t = int(it.get_next(datetime).timestamp() * 1000)
        if t > end_ms:
            return out
        out.append(t)


def _history(job: DemoJob, fires: list[int], *, seed: int, now: int, window_start: int) -> list[dict[str, Any]]:
    events = []
    span = max(1, now - window_start)
    forced = set(fires[-job.failing_last:]) if job.failing_last else set()
    for ft in fires:
        rng = random.Random(f"{seed}:{job.id}:{ft}")
        started = ft + int(rng.uniform(50, 4_000))
        attempt = 1
        while True:
            if started > now:
                break
            dur = int(job.base_ms * math.exp(rng.gauss(0, job.spread)) * (1 + job.drift * (ft - window_start) / span))
            if rng.random() < job.outlier_rate:
                dur *= rng.randint(8, 12)
            status, kind = "success", None
            roll = rng.random()
            if ft in forced:
                status, kind = "failed", job.errors[0]
            elif job.max_runtime_seconds and roll < job.timeout_rate:
                status = "timeout"
            elif roll < job.timeout_rate + job.cancel_rate:
                status = "cancelled"
                dur = int(dur * rng.uniform(0.1, 0.8))
            elif roll < job.timeout_rate + job.cancel_rate + job.failure_rate * (1.5 if attempt > 1 else 1):
                status = "failed"
                r2 = rng.random()
                kind = job.errors[0] if r2 < 0.6 or len(job.errors) == 1 else job.errors[1 + int((r2 - 0.6) / 0.4 * (len(job.errors) - 1))]
                dur = int(dur * rng.uniform(0.05, 0.9))
            if status == "timeout":
                dur = job.max_runtime_seconds * 1000  # type: ignore[operator]
            elif job.max_runtime_seconds:
                dur = min(dur, int(job.max_runtime_seconds * 1000 * 0.95))
            dur = max(5, dur)
            exec_id = f"demo{seed}-{job.id}-{ft // 1000:x}-{attempt}"
            running = started + dur > now
            events.append(_event(job, rng, exec_id=exec_id, started=started, dur=dur, status=status,
                                 attempt=attempt, now=now, error_kind=kind, running=running))
            if running or status != "failed" or attempt > job.retries or ft in forced:
                break
            attempt += 1
            started = started + dur + 30_000 * attempt + int(rng.uniform(0, 5_000))
    return events


def _plan(jobs: list[DemoJob], *, days: int, now: int, cap: int) -> dict[str, list[int]]:
    window_start = now - days * DAY_MS
    fires = {j.id: _fire_times(j, window_start, now) for j in jobs}
    total = sum(len(f) for f in fires.values())
    # Over the cap (many jobs or days): keep only the newest runs of the busiest jobs.
    while total > cap:
        busiest = max(fires, key=lambda k: len(fires[k]))
        cut = min(total - cap, len(fires[busiest]) // 2)
        if cut <= 0:
            break
        fires[busiest] = fires[busiest][cut:]
        total -= cut
    return fires


# ---- HTTP ----------------------------------------------------------------------------------------

class DemoApiError(RuntimeError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class _Api:
    """POSTs to the Chronos API with a key; retries connection errors, 429 and 5xx a few times."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 60.0, attempts: int = 4) -> None:
        self.base = base_url.rstrip("/")
        self.timeout = timeout
        self.attempts = attempts
        self.local = threading.local()
        self.headers = {"x-api-key": api_key, "Content-Type": "application/json",
                        "User-Agent": "chronos-demo/1.0"}

    @property
    def session(self) -> requests.Session:
        s = getattr(self.local, "session", None)
        if s is None:
            s = self.local.session = requests.Session()
            s.headers.update(self.headers)
        return s

    def post(self, path: str, body: dict[str, Any], *, attempts: int | None = None) -> dict[str, Any]:
        data = json.dumps(body, separators=(",", ":")).encode()
        tries = attempts or self.attempts
        for i in range(tries):
            last = i == tries - 1
            try:
                resp = self.session.post(self.base + path, data=data, timeout=self.timeout)
            except requests.RequestException as exc:
                if last:
                    raise DemoApiError(f"POST {path}: {exc}") from exc
                time.sleep(0.5 * 2 ** i)
                continue
            if resp.status_code == 200:
                return resp.json()
            message = _error_message(resp)
            if (resp.status_code == 429 or resp.status_code >= 500) and not last:
                time.sleep(float(resp.headers.get("Retry-After", 0.5 * 2 ** i)))
                continue
            raise DemoApiError(f"POST {path}: HTTP {resp.status_code}: {message}", resp.status_code)
        raise AssertionError("unreachable")

    def close(self) -> None:
        s = getattr(self.local, "session", None)
        if s is not None:
            s.close()


def _error_message(resp: requests.Response) -> str:
    try:
        return resp.json()["error"]["message"]
    except Exception:  # noqa: BLE001 - not our JSON error
        return resp.text[:200]


def register(api: _Api, jobs: Iterable[DemoJob]) -> int:
    return int(api.post("/api/ingest/jobs/register", {"jobs": [j.definition() for j in jobs]})["registered"])


# ---- public entry points -------------------------------------------------------------------------

def seed(base_url: str, api_key: str, *, days: int = 30, jobs: int = 24, seed: int = 7,
         now_ms: int | None = None, concurrency: int = 3, max_executions: int = MAX_EXECUTIONS) -> dict[str, Any]:
    """Register ``jobs`` demo jobs and report their last ``days`` days of runs. Idempotent.

    Each job's runs go out in time order on one lane (so its last status and consecutive-failure
    count end up right); ``concurrency`` lanes post in parallel. Returns counts and the elapsed time.
    """
    t0 = time.monotonic()
    now = int(time.time() * 1000) if now_ms is None else int(now_ms)
    chosen = demo_jobs(jobs)
    api = _Api(base_url, api_key)
    registered = register(api, chosen)
    fires = _plan(chosen, days=days, now=now, cap=max_executions)
    window_start = now - days * DAY_MS
    per_job = {j.id: _history(j, fires[j.id], seed=seed, now=now, window_start=window_start) for j in chosen}

    lanes: list[list[dict[str, Any]]] = [[] for _ in range(max(1, concurrency))]
    for job_id in sorted(per_job, key=lambda k: -len(per_job[k])):
        min(lanes, key=len).extend(per_job[job_id])
    batches: list[list[list[dict[str, Any]]]] = []
    for lane in lanes:
        lane.sort(key=lambda e: e.get("finishedAt", e["startedAt"]))
        batches.append([lane[i:i + BATCH_SIZE] for i in range(0, len(lane), BATCH_SIZE)])

    totals = {"created": 0, "finished": 0, "duplicates": 0}
    lock = threading.Lock()
    sent = [0]

    def run_lane(lane_batches: list[list[dict[str, Any]]]) -> None:
        for batch in lane_batches:
            res = api.post("/api/ingest/executions/batch", {"executions": batch})
            with lock:
                for k in totals:
                    totals[k] += int(res.get(k, 0))
                sent[0] += len(batch)
                log.debug("sent %d executions", sent[0])

    with ThreadPoolExecutor(max_workers=len(batches)) as pool:
        for f in [pool.submit(run_lane, b) for b in batches if b]:
            f.result()
    api.close()

    statuses: dict[str, int] = {}
    for events in per_job.values():
        for e in events:
            statuses[e["status"]] = statuses.get(e["status"], 0) + 1
    result = {
        "jobs": registered, "executions": sum(statuses.values()), **totals,
        "success": statuses.get("success", 0), "failed": statuses.get("failed", 0),
        "timeout": statuses.get("timeout", 0), "cancelled": statuses.get("cancelled", 0),
        "running": statuses.get("running", 0),
        "batches": sum(len(b) for b in batches), "days": days, "nowMs": now,
        "seconds": round(time.monotonic() - t0, 2),
    }
    log.info("demo seed: %d executions (%d failed) for %d jobs in %.1fs", result["executions"],
             result["failed"], registered, result["seconds"])
    return result


def trickle(base_url: str, api_key: str, *, interval: float = 3.0, stop: threading.Event | None = None,
            seed: int | None = None, jobs: int = len(CATALOG), max_ticks: int | None = None) -> dict[str, int]:
    """Post a few live runs every ``interval`` seconds until ``stop`` is set (or ``max_ticks`` ticks).

    Each run is a ``running`` event, then its final event a moment later with the same execId. Server
    and network errors are logged and retried on the next tick (finishes that did not get through are
    kept and re-sent; on the way out, even on Ctrl-C, open runs are finished once more). An invalid
    key (401/403) ends it with DemoApiError. Returns counts.
    """
    stop = stop or threading.Event()
    rng = random.Random(seed)
    catalog = demo_jobs(jobs)
    weights = [1.0 / max(0.2, j.base_ms / 60_000) ** 0.3 for j in catalog]
    api = _Api(base_url, api_key, timeout=15.0, attempts=1)
    registered = False
    open_runs: list[tuple[DemoJob, str, int]] = []   # started (or about to be), not yet finished
    stats = {"ticks": 0, "started": 0, "finished": 0, "errors": 0}

    def send(events: list[dict[str, Any]]) -> None:
        api.post("/api/ingest/executions/batch", {"executions": events})

    def finish() -> None:
        end = int(time.time() * 1000)
        finals = []
        for job, exec_id, started in open_runs:
            status = "failed" if rng.random() < job.failure_rate else "success"
            finals.append(_event(job, rng, exec_id=exec_id, started=started, dur=max(1, end - started),
                                 status=status, attempt=1, now=end,
                                 error_kind=job.errors[0] if status == "failed" else None))
        send(finals)
        stats["finished"] += len(finals)
        open_runs.clear()

    try:
        while not stop.is_set():
            stats["ticks"] += 1
            try:
                if not registered:
                    register(api, catalog)
                    registered = True
                if open_runs:  # a finish that failed on an earlier tick
                    finish()
                now = int(time.time() * 1000)
                runs = []
                for job in rng.choices(catalog, weights=weights, k=rng.randint(1, 3)):
                    exec_id = f"live-{job.id}-{uuid.UUID(int=rng.getrandbits(128)).hex[:16]}"
                    runs.append((job, exec_id, now - rng.randrange(0, 200)))
                open_runs.extend(runs)  # before sending: an interrupted send still gets its finish
                send([_event(j, rng, exec_id=x, started=t, dur=0, status="running", attempt=1, now=now,
                             running=True) for j, x, t in runs])
                stats["started"] += len(runs)
                stop.wait(min(interval * 0.6, rng.uniform(0.4, 1.5)))
                finish()
            except DemoApiError as exc:
                if exc.status in (401, 403):
                    raise
                stats["errors"] += 1
                log.warning("demo trickle: %s; retrying next tick", exc)
            except Exception as exc:  # noqa: BLE001 - keep trickling whatever happens
                stats["errors"] += 1
                log.warning("demo trickle: unexpected %s: %s; retrying next tick", type(exc).__name__, exc)
            if max_ticks is not None and stats["ticks"] >= max_ticks:
                break
            stop.wait(interval)
    finally:
        if open_runs:
            try:
                finish()
            except Exception as exc:  # noqa: BLE001
                log.warning("demo trickle: could not finish %d open runs: %s", len(open_runs), exc)
        api.close()
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chronos.demo", description="Chronos Synapse demo data")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", default=os.environ.get("CHRONOS_URL", DEFAULT_URL),
                       help=f"server base URL (default $CHRONOS_URL or {DEFAULT_URL})")
        p.add_argument("--key", default=os.environ.get("CHRONOS_API_KEY") or os.environ.get("CHRONOS_BOOTSTRAP_API_KEY"),
                       help="API key with the ingest scope (default $CHRONOS_API_KEY or $CHRONOS_BOOTSTRAP_API_KEY)")
        p.add_argument("--jobs", type=int, default=len(CATALOG), help="number of demo jobs (default %(default)s)")
        p.add_argument("-v", "--verbose", action="store_true")

    p_seed = sub.add_parser("seed", help="register demo jobs and report their history (idempotent)")
    common(p_seed)
    p_seed.add_argument("--days", type=int, default=30)
    p_seed.add_argument("--seed", type=int, default=7)
    p_trickle = sub.add_parser("trickle", help="post a few live runs every few seconds until interrupted")
    common(p_trickle)
    p_trickle.add_argument("--interval", type=float, default=3.0)
    p_trickle.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.key:
        parser.error("--key is required (or set CHRONOS_API_KEY)")
    try:
        if args.command == "seed":
            result = seed(args.url, args.key, days=args.days, jobs=args.jobs, seed=args.seed)
            print(json.dumps(result, indent=2))
        else:
            stop = threading.Event()
            try:
                trickle(args.url, args.key, interval=args.interval, stop=stop, seed=args.seed, jobs=args.jobs)
            except KeyboardInterrupt:
                stop.set()
    except DemoApiError as exc:
        print(f"chronos demo: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
