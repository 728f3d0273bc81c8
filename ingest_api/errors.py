"""One error type for the API and the handlers that turn every failure into ``{"error": {...}}``."""
from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Blueprint, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 429: "rate_limited",
         500: "internal_error", 503: "unavailable"}


class ApiError(Exception):
    """An error answered as JSON ``{"error": {"code", "message", "details"}}`` with ``status``."""

    def __init__(self, message: str, status: int = 400, *, code: str | None = None, details: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code or CODES.get(status, "error")
        self.details = details
        self.headers = headers or {}


def error_response(message: str, status: int, code: str | None = None, details: Any = None,
                   headers: dict[str, str] | None = None):
    body = {"error": {"code": code or CODES.get(status, "error"), "message": message, "details": details}}
    resp = jsonify(body)
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def register_handlers(bp: Blueprint) -> None:
    @bp.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.message, exc.status, exc.code, exc.details, exc.headers)

    @bp.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        message = {413: "request body too large"}.get(status, exc.description or exc.name)
        return error_response(message, status)

    @bp.errorhandler(redis.ConnectionError)
    @bp.errorhandler(redis.TimeoutError)
    def _redis_down(exc: Exception):
        # Redis is restarting or unreachable: nothing was stored, and the client should try again shortly.
        log.warning("Redis unavailable: %s", exc)
        return error_response("the data store is unavailable; retry shortly", 503, headers={"Retry-After": "5"})

    @bp.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error in API")
        return error_response("internal error", 500)
