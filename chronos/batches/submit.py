"""Streaming submission: an NDJSON body goes into Redis line by line as it arrives.

The web process holds at most one read block, one line and one chunk of parsed records at a time, so its
memory does not grow with the upload. Per chunk of 1,000 records, the CLAIM_IDS script rejects duplicate ids
(per-batch hash-bucketed sets, sized from Content-Length so that each stays in Redis's compact encoding, and
dropped when the upload ends), then one pipeline numbers the rest and writes them as stream entries of up
to 100 records. Only this request writes the batch's records, so numbering them here is safe. Runners may
start on the first records while the rest are still arriving.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Iterator

from redis import Redis, RedisError

from chronos import keys
from chronos.batches import store
from chronos.batches.lua import BatchScripts
from chronos.batches.model import (ENTRY_BYTES, ENTRY_RECORDS, BatchConfig, BatchRejected, RecordError,
                                   pack_records, parse_config, parse_record)
from chronos.config import Settings
from chronos.outbound import OutboundRefused, check_url

READ_BLOCK = 256 * 1024
CHUNK_RECORDS = 1000
CHUNK_BYTES = 1024 * 1024
REPORTED = 100  # rejected lines listed in the answer (all are counted; the first 1000 are kept)
IDS_PER_SET = 100


class UploadAborted(Exception):
    """The body could not be read to its end (client went away, or it is over the size limit)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Submission:
    batch_id: str
    config: BatchConfig
    accepted: int = 0
    rejected_count: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    state: str = "queued"

    def to_dict(self) -> dict[str, Any]:
        return {"message": "Job accepted", "job_id": self.batch_id, "state": self.state,
                "accepted": self.accepted, "rejectedCount": self.rejected_count, "rejected": self.rejected,
                "primarykey": self.config.primarykey}


def lines(stream: BinaryIO, max_line: int, max_total: int) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) for each line of ``stream``; the line is None when it exceeded ``max_line``."""
    buf = b""
    number = 0
    total = 0
    skipping = False
    while True:
        block = stream.read(READ_BLOCK)
        if not block:
            break
        total += len(block)
        if max_total and total > max_total:
            raise UploadAborted(f"the upload exceeds CHRONOS_BATCH_MAX_BYTES ({max_total} bytes)", 413)
        buf += block
        parts = buf.split(b"\n")
        buf = parts.pop()
        for part in parts:
            number += 1
            if skipping:
                skipping = False
                yield number, None
            else:
                yield number, part if len(part) <= max_line else None
        if len(buf) > max_line:
            buf = b""
            skipping = True
    if skipping or buf:
        number += 1
        yield number, None if skipping else buf


def _id_buckets(content_length: int | None, first_chunk_bytes: int, first_chunk_records: int) -> int:
    """How many duplicate-check sets: about IDS_PER_SET ids each, a power of two."""
    if not content_length or not first_chunk_records:
        return 1024
    estimate = content_length / max(1.0, first_chunk_bytes / first_chunk_records)
    n = 1
    while n * IDS_PER_SET < estimate and n < 1 << 20:
        n <<= 1
    return n


class _Writer:
    def __init__(self, r: Redis, scripts: BatchScripts, batch_id: str, ttl: int, content_length: int | None):
        self.r, self.scripts, self.batch_id, self.ttl = r, scripts, batch_id, ttl
        self.content_length = content_length
        self.buckets = 0
        self.chunk: list[tuple[int, str, bytes, bytes]] = []
        self.chunk_bytes = 0
        self.cancelled = False
        self.total = 0
        self.stream = keys.batch_records(batch_id)

    def add(self, line_no: int, id_text: str, id_json: bytes, body: bytes) -> list[int] | None:
        self.chunk.append((line_no, id_text, id_json, body))
        self.chunk_bytes += len(body) + len(id_json)
        if len(self.chunk) >= CHUNK_RECORDS or self.chunk_bytes >= CHUNK_BYTES:
            return self.flush()
        return []

    def flush(self) -> list[int]:
        """Write the chunk; returns the line numbers of duplicate ids."""
        if not self.chunk or self.cancelled:
            self.chunk = []
            return []
        if not self.buckets:
            self.buckets = _id_buckets(self.content_length, self.chunk_bytes, len(self.chunk))
        slots: dict[int, int] = {}
        bucket_keys: list[str] = []
        args: list[Any] = [self.ttl]
        for _, id_text, _, _ in self.chunk:
            b = zlib.crc32(id_text.encode()) & (self.buckets - 1)
            if b not in slots:
                slots[b] = len(bucket_keys) + 1
                bucket_keys.append(keys.batch_ids(self.batch_id, b))
            args += [slots[b], id_text]
        chunk, self.chunk, self.chunk_bytes = self.chunk, [], 0
        reply = self.scripts.claim_ids(keys=[keys.batch(self.batch_id), *bucket_keys], args=args)
        if isinstance(reply, int) and reply < 0:
            self.cancelled = True
            return []
        dups = {int(i) for i in reply}
        pipe = self.r.pipeline(transaction=True)
        entry: list[tuple[int, bytes, bytes]] = []
        size = 0
        for i, (_, _, id_json, body) in enumerate(chunk):
            if i in dups:
                continue
            entry.append((self.total, id_json, body))
            size += len(id_json) + len(body)
            self.total += 1
            if len(entry) >= ENTRY_RECORDS or size >= ENTRY_BYTES:
                pipe.xadd(self.stream, {"r": pack_records(entry)}, id=f"0-{entry[0][0] + 1}")
                entry, size = [], 0
        if entry:
            pipe.xadd(self.stream, {"r": pack_records(entry)}, id=f"0-{entry[0][0] + 1}")
        pipe.hset(keys.batch(self.batch_id), "total", self.total)
        pipe.execute()
        return [chunk[i][0] for i in sorted(dups)]


def submit(r: Redis, scripts: BatchScripts, owner: str, stream: BinaryIO, settings: Settings,
           content_length: int | None = None) -> Submission:
    """Read one NDJSON batch from ``stream`` into Redis. BatchRejected (nothing stored) or UploadAborted."""
    max_line = settings.chronos_batch_max_line_bytes
    ttl = settings.batch_retention_seconds
    it = lines(stream, max_line, settings.chronos_batch_max_bytes)
    config = None
    for number, line in it:
        if line is None:
            raise BatchRejected(f"line {number} (configuration) is longer than {max_line} bytes")
        if line.strip():
            config = parse_config(line)
            break
    if config is None:
        raise BatchRejected("empty body: the first line must be the batch configuration")
    try:
        check_url(config.url, settings.chronos_outbound_allow)
    except OutboundRefused as exc:
        raise BatchRejected(f"target refused: {exc}", code="outbound_refused") from None

    sub = Submission(store.create(r, owner, config, ttl), config)
    writer = _Writer(r, scripts, sub.batch_id, ttl, content_length)
    pending_rejects: list[dict[str, Any]] = []

    def reject(line_no: int, message: str) -> None:
        sub.rejected_count += 1
        item = {"line": line_no, "error": message}
        if len(sub.rejected) < REPORTED:
            sub.rejected.append(item)
        if sub.rejected_count <= store.REJECTED_KEPT:
            pending_rejects.append(item)
        else:
            r.hincrby(keys.batch(sub.batch_id), "rejectedLines", 1)

    def note(dups: list[int] | None) -> None:
        for line_no in dups or ():
            reject(line_no, "duplicate id")
        if pending_rejects:
            store.add_rejected(r, sub.batch_id, pending_rejects, ttl)
            pending_rejects.clear()

    try:
        for number, line in it:
            if line is None:
                reject(number, f"longer than {max_line} bytes")
                continue
            if not line.strip():
                continue
            try:
                id_text, id_json, body = parse_record(line)
            except RecordError as exc:
                reject(number, str(exc))
                continue
            dups = writer.add(number, id_text, id_json, body)
            if dups or pending_rejects:
                note(dups)
        note(writer.flush())
    except UploadAborted as exc:
        store.cancel(r, scripts, sub.batch_id, owner, note=f"upload aborted: {exc}")
        raise
    except RedisError:
        raise
    except Exception as exc:  # the client went away mid-body, or the server's body limit (code 413)
        too_large = getattr(exc, "code", None) == 413
        message = "the upload is too large" if too_large else f"upload interrupted: {exc}"
        store.cancel(r, scripts, sub.batch_id, owner, note=message)
        raise UploadAborted(message, 413 if too_large else 400) from None
    sub.rejected.sort(key=lambda x: x["line"])
    sub.state = store.seal(r, scripts, sub.batch_id, owner, writer.buckets)
    sub.accepted = int(r.hget(keys.batch(sub.batch_id), "total") or 0)
    return sub
