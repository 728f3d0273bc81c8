"""Turning validated execution events into stored documents: defaults, log caps, label tags."""
from __future__ import annotations

import zlib
from typing import Any

from chronos.fingerprint import fingerprint

FINAL_STATUSES = ("success", "failed", "timeout", "cancelled")
STATUSES = ("running",) + FINAL_STATUSES
FAILURE_STATUSES = ("failed", "timeout")
LOG_FIELDS = ("stdout", "stderr", "errorStack", "codeSnippet")
TEXT_CAP = 4096  # errorMessage / errorType: short by nature; the rest goes to the log fields


# Deepest nesting of one job or execution (metadata, extra fields). RedisJSON's parser stops at 128 levels, so
# deeper documents could be validated and then fail to store; 32 is ample for real metadata.
MAX_NESTING = 32


def nesting(value: Any) -> int:
    """How deep objects and arrays nest in ``value`` (0 for a scalar); iterative, so any depth is safe."""
    if not isinstance(value, (dict, list)):
        return 0
    deepest, stack = 1, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        for child in (item.values() if isinstance(item, dict) else item):
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return deepest


def cap_tail(text: str, max_bytes: int) -> tuple[str, bool]:
    """The last ``max_bytes`` bytes of ``text`` (on a character boundary), and whether it was cut."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= max_bytes:
        return text, False
    tail = data[len(data) - max_bytes:]
    return tail.decode("utf-8", "ignore"), True


def label_tags(labels: list[str] | dict[str, str] | None) -> list[str]:
    """Index form of labels: list items as they are, map entries as ``key:value`` and ``key``."""
    if not labels:
        return []
    if isinstance(labels, dict):
        out = []
        for k, v in labels.items():
            out.append(f"{k}:{v}")
            out.append(k)
        return out
    return list(labels)


def build_execution(event: dict[str, Any], *, owner: str, job_name: str, received_ms: int,
                    max_log_bytes: int) -> dict[str, Any]:
    """The stored document for one validated event (times already in epoch ms).

    ``startedAt`` is derived from ``finishedAt - durationMs`` when absent, ``durationMs`` from the two
    times when absent; log fields keep their tail and are flagged in ``truncated``.
    """
    doc: dict[str, Any] = {k: v for k, v in event.items() if v is not None}
    doc["owner"] = owner
    doc["jobName"] = job_name
    doc["receivedAt"] = received_ms
    status = doc["status"]
    started, finished, duration = doc.get("startedAt"), doc.get("finishedAt"), doc.get("durationMs")
    if status == "running":
        doc.pop("finishedAt", None)
        if started is None:
            doc["startedAt"] = received_ms
    else:
        if finished is None:
            finished = received_ms if started is None else started + (duration or 0)
            doc["finishedAt"] = finished
        if duration is None:
            duration = max(0, finished - started) if started is not None else 0
            doc["durationMs"] = duration
        if started is None:
            doc["startedAt"] = finished - duration
    # A unique, time-ordered sort key: startedAt with three digits from the execId below the millisecond,
    # so runs started in the same millisecond keep one order across pages (offset paging needs that).
    doc["sortKey"] = doc["startedAt"] * 1000 + zlib.crc32(doc["execId"].encode()) % 1000
    truncated = {}
    for f in LOG_FIELDS:
        if isinstance(doc.get(f), str):
            doc[f], cut = cap_tail(doc[f], max_log_bytes)
            if cut:
                truncated[f] = True
    for f in ("errorMessage", "errorType"):
        if isinstance(doc.get(f), str):
            doc[f], cut = cap_tail(doc[f], TEXT_CAP)
            if cut:
                truncated[f] = True
    if truncated:
        doc["truncated"] = truncated
    if status in FAILURE_STATUSES:
        group = fingerprint(doc.get("errorType"), doc.get("errorMessage"), doc.get("errorStack"))
        if group:
            doc["errorGroup"] = group
    tags = label_tags(doc.get("labels"))
    if tags:
        doc["labelTags"] = tags
    return doc


def event_summary(doc: dict[str, Any]) -> dict[str, Any]:
    """The small form of an execution that live listeners receive."""
    out = {k: doc[k] for k in SUMMARY_FIELDS if k in doc}
    if "errorMessage" in out:
        out["errorMessage"] = out["errorMessage"][:300]
    return out


SUMMARY_FIELDS = ("execId", "jobId", "jobName", "status", "startedAt", "finishedAt", "durationMs",
                  "errorType", "errorMessage", "errorGroup", "triggerId", "attempt")
