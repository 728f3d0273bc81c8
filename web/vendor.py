"""Bootstrap 5 CSS/JS and icons served from the installed ``bootstrap-flask`` package (no CDN: the
dashboard works on machines without internet access)."""
from __future__ import annotations

from pathlib import Path

import flask_bootstrap
from flask import Blueprint, send_from_directory

STATIC = Path(flask_bootstrap.__file__).parent / "static" / "bootstrap5"
BOOTSTRAP_CSS = "/vendor/bootstrap/css/bootstrap.min.css"
ICONS_CSS = "/vendor/bootstrap/css/font/bootstrap-icons.min.css"

bp = Blueprint("vendor", __name__)


@bp.get("/vendor/bootstrap/<path:filename>")
def bootstrap(filename: str):
    resp = send_from_directory(STATIC, filename, max_age=86400)
    return resp
