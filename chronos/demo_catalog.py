"""The demo company: three apps and their scheduled jobs (data only)."""
from __future__ import annotations

import hashlib

from dataclasses import dataclass
from typing import Any

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
