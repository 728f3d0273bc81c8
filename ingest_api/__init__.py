"""The REST API blueprint, mounted under ``/api``: Synapse-compatible ingestion, reads, the live stream."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__)

from ingest_api import errors  # noqa: E402

errors.register_handlers(bp)

from ingest_api import badges, batches, ingest, insights, keys_api, meta, read, stream  # noqa: E402,F401
from ingest_api import alerts_api, jobs_admin  # noqa: E402,F401

__all__ = ["bp"]
