"""``GET /metrics``: Prometheus scrape endpoint, authenticated with a read key (``Authorization: Bearer``)."""
from __future__ import annotations

from flask import Blueprint, Response, g

from chronos import prometheus
from chronos.db import store
from ingest_api.auth import require
from ingest_api.errors import register_handlers

bp = Blueprint("metrics", __name__)
register_handlers(bp)


@bp.get("/metrics")
@require("read")
def metrics():
    body = prometheus.render(store.client, g.principal.owner_filter())
    return Response(body, mimetype="text/plain; version=0.0.4; charset=utf-8")
