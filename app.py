"""The web application: Flask server with the REST API under ``/api`` and the Dash dashboard.

``create_app()`` is the factory (gunicorn: ``app:create_app()``).
"""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Mapping

import dash
import dash_bootstrap_components as dbc
from flask import Flask, jsonify, request

from chronos.bootstrap import ensure_bootstrap
from chronos.config import Settings
from chronos.db import store
from web import auth, vendor

log = logging.getLogger(__name__)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the server. ``config`` overrides environment settings (tests pass REDIS_URL etc.)."""
    settings = Settings.load(config)
    server = Flask(__name__)
    server.config.update(
        SECRET_KEY=settings.secret_key(),
        MAX_CONTENT_LENGTH=settings.chronos_max_body_bytes + 1024 * 1024,  # the API checks the exact limit
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.chronos_secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.chronos_secure_cookies,
        REMEMBER_COOKIE_DURATION=timedelta(days=14),
        JSON_SORT_KEYS=False,
        CHRONOS_SETTINGS=settings,
    )
    store.init_app(server, settings)
    with server.app_context():
        ensure_bootstrap(store.client, settings)

    from ingest_api import bp as api_bp
    from ingest_api.metrics_api import bp as metrics_bp
    from ingest_api.ping import bp as ping_bp

    server.register_blueprint(api_bp, url_prefix="/api")
    server.register_blueprint(ping_bp)
    from ingest_api.go_compat import bp as go_compat_bp

    server.register_blueprint(go_compat_bp)
    server.register_blueprint(metrics_bp)
    server.register_blueprint(vendor.bp)
    auth.install(server)
    _json_errors_for_api(server)
    _create_dash(server)
    return server


def _json_errors_for_api(server: Flask) -> None:
    """Unrouted paths and wrong methods under /api answer JSON like every other API error."""

    @server.before_request
    def _api_paths_are_not_pages():
        # Dash's catch-all page route would otherwise answer an unknown /api/... path with HTML.
        if request.path.startswith("/api/") and request.blueprint != "api":
            return jsonify({"error": {"code": "not_found", "message": "no such endpoint", "details": None}}), 404
        return None

    @server.errorhandler(404)
    def _not_found(exc):
        if request.path.startswith("/api/"):
            return jsonify({"error": {"code": "not_found", "message": "no such endpoint", "details": None}}), 404
        return exc

    @server.errorhandler(405)
    def _bad_method(exc):
        if request.path.startswith("/api/"):
            return jsonify({"error": {"code": "method_not_allowed", "message": "method not allowed",
                                      "details": None}}), 405
        return exc


def _create_dash(server: Flask) -> dash.Dash:
    app = dash.Dash(
        __name__,
        server=server,
        use_pages=True,
        title="Chronos Synapse",
        update_title=None,
        suppress_callback_exceptions=True,
        external_stylesheets=[vendor.BOOTSTRAP_CSS, vendor.ICONS_CSS],
    )
    from pages._components import create_shell

    app.layout = create_shell
    import callbacks  # noqa: F401  (registers the callbacks once)

    return app
