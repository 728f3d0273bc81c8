"""The NDJSON batch format: the configuration line, the record lines, and the per-record result layout.

Line 1 configures the batch (Go Chronos fields plus ours)::

    {"primarykey"?, "protocol": "http"|"https", "host", "port"? (number or string), "path"? ("/"),
     "method"? ("POST"), "headers"? {name: value}, "timeoutMs"? (10000), "concurrency"? (64),
     "retries"? (3), "backoffMs"? (200), "rateLimit"? (records/s), "metadata"? (any JSON)}

Every further line is one record ``{"id": int|string, "payload": string|object|array}``. A string payload is
sent as it is (the Go service's form); any other payload is sent as its JSON text. Ids are compared as text,
so ``1`` and ``"1"`` are the same id.
"""
from __future__ import annotations

import re
import struct
from typing import Any, Literal, Optional, Union

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# Record states in the results string (byte 0 of each 8-byte slot).
PENDING, DELIVERED, FAILED = 0, 1, 2
STATE_NAMES = {PENDING: "pending", DELIVERED: "delivered", FAILED: "failed"}
SLOT = struct.Struct(">BBHI")  # state, attempts, HTTP status (0: no answer), latency in µs
SLOT_BYTES = SLOT.size
MAX_LATENCY_US = 2**31 - 1
# A runner's report of one record (FINALIZE unpacks it with Lua's struct '>I4BBI2I4i4I2'):
# seq, then the slot (state, attempts, status, latency µs), latency for the stats (-1: no answer), bucket.
REPORT = struct.Struct(">IBBHIiH")
# Records are stored in chunks: one stream entry (field "r") holds up to ENTRY_RECORDS records, each as
# this header (seq, id length, body length) followed by the id's JSON and the body. Round-0 entries have the
# id 0-<first seq + 1>, so the chunk holding a record is the last round-0 entry at or before it.
RECORD_HEAD = struct.Struct(">IHI")
ENTRY_RECORDS = 100
ENTRY_BYTES = 256 * 1024

BATCH_STATES = ("queued", "running", "completed", "cancelled")
MANAGED_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer"}
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
_PATH = re.compile(r"^/[\x21-\x7e]{0,2000}$")
_HOST = re.compile(r"^[A-Za-z0-9.\-_:\[\]]{1,253}$")
MAX_ID_CHARS = 200


class BatchRejected(ValueError):
    """The batch as a whole is refused (bad configuration line, refused target); answered with 400."""

    def __init__(self, message: str, details: Any = None, code: str = "invalid_batch") -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.code = code


class RecordError(ValueError):
    """One record line is unusable; it is reported with its line number and skipped."""


class BatchConfig(BaseModel):
    """The configuration line. Lax on purpose: Go clients send the port as a string."""

    model_config = ConfigDict(extra="allow")

    primarykey: Optional[str] = Field(default=None, max_length=200)
    protocol: Literal["http", "https"] = "http"
    host: str
    port: Optional[Union[int, str]] = None
    path: str = "/"
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    timeoutMs: int = Field(default=10_000, ge=1, le=300_000)
    concurrency: int = Field(default=64, ge=1, le=4096)
    retries: int = Field(default=3, ge=0, le=10)
    backoffMs: int = Field(default=200, ge=0, le=60_000)
    rateLimit: Optional[float] = Field(default=None, gt=0, le=1_000_000)
    metadata: Any = None

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("method", mode="before")
    @classmethod
    def _method(cls, v: Any) -> Any:
        return v.strip().upper() if isinstance(v, str) else v

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        if not _HOST.fullmatch(v.strip()):
            raise ValueError("must be a host name or IP address")
        return v.strip()

    @field_validator("port")
    @classmethod
    def _port(cls, v: Union[int, str, None]) -> Optional[int]:
        if v is None or v == "":
            return None
        if isinstance(v, str):
            if not v.strip().isdigit():
                raise ValueError("must be a number from 1 to 65535")
            v = int(v.strip())
        if not 1 <= v <= 65535:
            raise ValueError("must be a number from 1 to 65535")
        return v

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        v = v or "/"
        if not v.startswith("/"):
            v = "/" + v
        if not _PATH.fullmatch(v):
            raise ValueError("must start with / and contain no spaces or control characters")
        return v

    @field_validator("headers")
    @classmethod
    def _headers(cls, v: dict[str, str]) -> dict[str, str]:
        if len(v) > 50:
            raise ValueError("at most 50 headers")
        for name, value in v.items():
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if name.lower() in MANAGED_HEADERS:
                raise ValueError(f"{name} is set by the runner and cannot be configured")
            if any(c in value for c in "\r\n\0") or len(value) > 8000:
                raise ValueError(f"the value of {name} contains a line break or is too long")
            try:
                value.encode("latin-1")
            except UnicodeEncodeError:
                raise ValueError(f"the value of {name} is not Latin-1 text") from None
        return v

    @property
    def effective_port(self) -> int:
        return int(self.port) if self.port else (443 if self.protocol == "https" else 80)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{self.protocol}://{host}:{self.effective_port}{self.path}"


def describe(exc: ValidationError) -> list[dict[str, str]]:
    """Short, field-named messages for every error of a validation failure."""
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        msg = err["msg"]
        out.append({"field": ".".join(str(x) for x in err["loc"]) or "config",
                    "message": msg[len("Value error, "):] if msg.startswith("Value error, ") else msg})
    return out


def parse_config(line: bytes) -> BatchConfig:
    """The configuration line, or BatchRejected naming the first problem."""
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise BatchRejected(f"line 1 (configuration) is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise BatchRejected("line 1 must be the configuration object")
    if "payload" in raw and "host" not in raw:
        raise BatchRejected("line 1 must be the configuration object, not a record")
    try:
        return BatchConfig.model_validate(raw)
    except ValidationError as exc:
        errors = describe(exc)
        raise BatchRejected(f"line 1 (configuration): {errors[0]['field']}: {errors[0]['message']}",
                            details=errors) from None


def parse_record(line: bytes) -> tuple[str, bytes, bytes]:
    """One record line as (id text for duplicate checks, id as JSON, request body); RecordError otherwise."""
    try:
        rec = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"invalid JSON: {exc}") from None
    if not isinstance(rec, dict):
        raise RecordError("a record must be a JSON object")
    rid = rec.get("id")
    if rid is None:
        raise RecordError("missing id")
    if isinstance(rid, bool) or not isinstance(rid, (int, str)):
        raise RecordError("id must be an integer or a string")
    text = str(rid)
    if not text or len(text) > MAX_ID_CHARS:
        raise RecordError(f"id must be 1-{MAX_ID_CHARS} characters")
    if "payload" not in rec:
        raise RecordError("missing payload")
    payload = rec["payload"]
    if isinstance(payload, str):
        body = payload.encode()
    elif isinstance(payload, (dict, list)):
        body = orjson.dumps(payload)
    else:
        raise RecordError("payload must be a JSON string, object or array")
    return text, (str(rid).encode() if isinstance(rid, int) else orjson.dumps(rid)), body


def pack_result(state: int, attempts: int, status: int, latency_us: int) -> bytes:
    """One record's result slot (see ``SLOT``)."""
    return SLOT.pack(state, min(attempts, 255), min(max(status, 0), 65535), min(max(latency_us, 0), MAX_LATENCY_US))


def pack_report(seq: int, state: int, attempts: int, status: int, latency_us: int, bucket: int) -> bytes:
    """One record's result as FINALIZE expects it (``latency_us`` -1 when no HTTP answer came back)."""
    lat = min(latency_us, MAX_LATENCY_US)
    return REPORT.pack(seq, state, min(attempts, 255), min(max(status, 0), 65535), max(lat, 0), lat, bucket)


def pack_records(records: list[tuple[int, bytes, bytes]]) -> bytes:
    """A chunk of (seq, id JSON, body) records as one stream entry value."""
    return b"".join(RECORD_HEAD.pack(seq, len(rid), len(body)) + rid + body for seq, rid, body in records)


def unpack_records(blob: bytes) -> list[tuple[int, bytes, bytes]]:
    """The (seq, id JSON, body) records of one stream entry value."""
    out = []
    pos, end, head, size = 0, len(blob), RECORD_HEAD.unpack_from, RECORD_HEAD.size
    while pos < end:
        seq, idlen, bodylen = head(blob, pos)
        pos += size
        out.append((seq, blob[pos:pos + idlen], blob[pos + idlen:pos + idlen + bodylen]))
        pos += idlen + bodylen
    return out


def unpack_results(raw: bytes, first_seq: int = 0) -> list[tuple[int, int, int, int, int]]:
    """(seq, state, attempts, status, latency µs) for each slot in ``raw`` (a GETRANGE of the results)."""
    out = []
    for i in range(len(raw) // SLOT_BYTES):
        state, attempts, status, lat = SLOT.unpack_from(raw, i * SLOT_BYTES)
        out.append((first_seq + i, state, attempts, status, lat))
    return out
