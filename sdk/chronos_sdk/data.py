"""Reading execution history: ``GET /api/executions`` page by page, or as a DataFrame."""
from __future__ import annotations

from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Union

from .exceptions import MissingDependencyError
from .retry import Retrier
from .transport import Transport
from .utils import TimeLike, to_wire_time

EXECUTIONS_PATH = "/api/executions"
TIME_COLUMNS = ("startedAt", "finishedAt", "createdAt", "updatedAt")


def iter_executions(transport: Transport, retrier: Retrier, *, job_id: Optional[str] = None,
                    since: TimeLike = None, until: TimeLike = None,
                    status: Union[str, Sequence[str], None] = None,
                    page_size: int = 200) -> Iterator[Dict[str, Any]]:
    """Yield executions matching the filters, fetching the next page (``nextCursor``) lazily.

    ``since``/``until`` take datetimes, ISO strings or epoch milliseconds. Raises
    APIError for a refused query and RetriesExhausted when the server stays away.
    """
    if page_size < 1:
        raise ValueError("page_size must be >= 1")
    if status is not None and not isinstance(status, str):
        status = ",".join(status)
    cursor: Optional[str] = None
    while True:
        params = {"jobId": job_id, "status": status, "from": to_wire_time(since),
                  "to": to_wire_time(until), "limit": page_size, "cursor": cursor}
        params = {k: v for k, v in params.items() if v is not None}
        data = retrier.call(transport, "GET", EXECUTIONS_PATH, params=params).json() or {}
        items: List[Dict[str, Any]] = data.get("items") or []
        yield from items
        cursor = data.get("nextCursor")
        if not cursor or not items:
            return


def to_frame(rows: Iterable[Dict[str, Any]]) -> Any:
    """A pandas DataFrame of execution dicts with time columns parsed as UTC datetimes.

    Raises MissingDependencyError when pandas is not installed.
    """
    try:
        import pandas as pd
    except ImportError as exc:
        raise MissingDependencyError(
            "executions_frame() needs pandas: pip install 'chronos-synapse-sdk[pandas]'"
        ) from exc
    frame = pd.DataFrame(list(rows))
    for column in TIME_COLUMNS:
        if column in frame.columns:
            frame[column] = pd.to_datetime(frame[column], utc=True, errors="coerce")
    return frame
