"""Error groups: executions whose errors differ only in volatile details share a fingerprint.

The fingerprint hashes the error type, the message with volatile parts replaced by placeholders (UUIDs, hex,
numbers, paths, quoted values, hosts, e-mail addresses, URLs) and the top stack frame in the user's own code
(file name and function, not the line number, so an edit elsewhere in the file keeps the group).
"""
from __future__ import annotations

import hashlib
import re

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<uuid>"),
    (re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.I), "<url>"),
    (re.compile(r"\b[\w.+-]+@[\w-]+(\.[\w-]+)+\b"), "<email>"),
    (re.compile(r"(\"[^\"]*\"|'[^']*'|`[^`]*`)"), "<str>"),
    (re.compile(r"(?<![\w.])(/[\w.@-]+)+/?"), "<path>"),
    (re.compile(r"\b[A-Za-z]:\\[\w\\. -]+"), "<path>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<hex>"),
    (re.compile(r"\b(\d{1,3}\.){3}\d{1,3}(:\d+)?\b"), "<ip>"),
    (re.compile(r"\b[0-9a-f]{12,}\b", re.I), "<hex>"),
    (re.compile(r"\b([a-z0-9-]+\.)+(com|net|org|io|internal|local|dev|cloud|svc)\b", re.I), "<host>"),
    (re.compile(r"\b(?=[a-z0-9-]*\d)[a-z][a-z0-9-]*\d[a-z0-9-]*\b", re.I), "<host>"),
    (re.compile(r"[-+]?\b\d+([.,]\d+)*(ms|s|m|h|kb|mb|gb|%)?\b", re.I), "<n>"),
)
_FRAME = re.compile(r'File "([^"]+)", line \d+, in (\S+)')
_JS_FRAME = re.compile(r"at (\S+) \(([^)]+?):\d+:\d+\)")
_LIBRARY = ("site-packages", "dist-packages", "/lib/python", "<frozen", "node_modules", "/usr/lib/")


def normalize_message(message: str) -> str:
    text = (message or "").strip()[:1000]
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    return re.sub(r"\s+", " ", text).strip()


def top_user_frame(stack: str | None) -> str:
    """``file:function`` of the innermost frame in the user's code, or "" when there is none."""
    if not stack:
        return ""
    frames = [(f, fn) for f, fn in _FRAME.findall(stack)]
    frames += [(f, fn) for fn, f in _JS_FRAME.findall(stack)]
    user = [(f, fn) for f, fn in frames if not any(lib in f for lib in _LIBRARY)]
    if not user:
        return ""
    path, func = user[-1] if _FRAME.search(stack) else user[0]
    return f"{path.rsplit('/', 1)[-1]}:{func}"


def fingerprint(error_type: str | None, message: str | None, stack: str | None) -> str | None:
    """A 16-hex-digit group id, or None when the run carries no error information at all."""
    if not (error_type or message or stack):
        return None
    parts = [(error_type or "").strip(), normalize_message(message or ""), top_user_frame(stack)]
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:16]
