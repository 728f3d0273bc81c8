"""Payload builders shared by the API tests."""
from __future__ import annotations

import time
from typing import Any


def iso(ms: int) -> str:
    from chronos.timeutil import to_iso

    return to_iso(ms)  # type: ignore[return-value]


def execution(exec_id: str, job_id: str = "job-a", status: str = "success", *, finished_ms: int | None = None,
              duration_ms: int = 1200, **fields: Any) -> dict[str, Any]:
    """A Synapse-SDK-shaped event with ISO times."""
    finished = finished_ms if finished_ms is not None else int(time.time() * 1000) - 1000
    event = {"execId": exec_id, "jobId": job_id, "status": status, "startedAt": iso(finished - duration_ms),
             "finishedAt": iso(finished), "durationMs": duration_ms}
    event.update(fields)
    return event


def batch(*events: dict[str, Any]) -> dict[str, Any]:
    return {"executions": list(events)}
