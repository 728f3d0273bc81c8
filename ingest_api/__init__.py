"""The REST API blueprint, mounted under ``/api``: Synapse-compatible ingestion, reads, the live stream."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__)

from ingest_api import errors  # noqa: E402

errors.register_handlers(bp)


@bp.before_request
def _refuse_control_characters():
    """NUL and other C0 control characters in query values are never meaningful; refuse them early."""
    from flask import request

    from ingest_api.errors import ApiError

    for name, value in request.args.items(multi=True):
        if any(ord(c) < 32 and c not in "\t" for c in value) or any(ord(c) < 32 for c in name):
            raise ApiError(f"query parameter {name!r} holds a control character", 400)

from ingest_api import badges, batches, ingest, insights, keys_api, meta, read, stream  # noqa: E402,F401
from ingest_api import alerts_api, jobs_admin  # noqa: E402,F401

__all__ = ["bp"]
