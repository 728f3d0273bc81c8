"""Execution documents: idempotent recording, lookups and search."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator

import orjson
from redis import Redis
from redis.exceptions import ResponseError

from chronos import keys, search
from chronos.store.query import Page
from chronos.store.recording import EVENT_STREAM_MAXLEN, RecordResult, record
from chronos.timeutil import now_ms

__all__ = ["EVENT_STREAM_MAXLEN", "RecordResult", "record"]  # recording lives in chronos.store.recording


def get(r: Redis, owner: str, exec_id: str) -> dict[str, Any] | None:
    raw = r.execute_command("JSON.GET", keys.execution(owner, exec_id))
    return orjson.loads(raw) if raw else None


def find_by_id(r: Redis, exec_id: str) -> dict[str, Any] | None:
    """Any owner's execution with that id (admins only): its key under each account, in one round trip
    (execId is not indexed: millions of unique values for this one lookup)."""
    owners = sorted(x.decode() for x in r.smembers(keys.users()))
    pipe = r.pipeline(transaction=False)
    for owner in owners:
        pipe.execute_command("JSON.GET", keys.execution(owner, exec_id))
    for raw in pipe.execute():
        if raw:
            return orjson.loads(raw)
    return None


@dataclass(frozen=True)
class Cursor:
    """Where a page of executions ended: its last row's ``sortKey`` and how many rows with exactly that key
    have been shown so far (two runs can share a key, so the key alone could skip one)."""
    key: int
    seen: int = 1

    def to_token(self) -> str:
        return f"k{self.key}.{self.seen}"

    @classmethod
    def from_token(cls, token: str) -> Cursor:
        """The cursor a ``to_token`` string stands for. Raises ValueError for anything else."""
        m = _TOKEN.fullmatch(token)
        if not m:
            raise ValueError("not an executions cursor")
        return cls(int(m.group(1)), int(m.group(2)))


_TOKEN = re.compile(r"k(-?\d{1,16})\.(\d{1,9})")


@dataclass(frozen=True)
class ExecutionQuery:
    owner: str | None
    q: str = ""
    job_id: str | None = None
    status: tuple[str, ...] = ()
    from_ms: int | None = None
    to_ms: int | None = None
    label: str | None = None
    app: str | None = None
    offset: int = 0
    limit: int = 50
    ascending: bool = False
    after: Cursor | None = None  # the rows past this cursor (then ``offset`` counts from it)

    def to_query(self) -> str:
        return search.join([
            search.tag("owner", self.owner) if self.owner else None,
            search.text(self.q, ["errorMessage", "errorType", "jobName"]) if self.q else None,
            search.tag("jobId", self.job_id) if self.job_id else None,
            search.tag("status", self.status) if self.status else None,
            search.tag("labels", self.label) if self.label else None,
            search.tag("appId", self.app) if self.app else None,
            search.numeric("startedAt", self.from_ms, self.to_ms),
        ])


# Fields the list views need; the full document (logs included) comes from get().
LIST_FIELDS = ("execId", "jobId", "jobName", "owner", "status", "startedAt", "finishedAt", "durationMs",
               "exitCode", "errorType", "errorMessage", "attempt", "labels", "appId", "host", "triggerId",
               "jobVersion", "appVersion", "sortKey")
_RETURNS: list[str] = [x for f in LIST_FIELDS for x in (f"$.{f}", "AS", f)]
# Newest-first pages read bands of sortKey going back in time, each BAND_GROWTH times wider than the last,
# until the page is full; past LAST_BAND_MS the band is open-ended. The first band is as wide as it takes
# the owner (or the job) to run about BAND_TARGET_ROWS times at the rate of the last minutes, between
# MIN_BAND_MS and FIRST_BAND_MS: at 5,000 runs a second an hour holds 18 million rows, and sorting a band
# that size holds Redis for hundreds of milliseconds (measured: 420 ms for a 1.5M-row hour, 1 ms for 1 s).
FIRST_BAND_MS = 3_600_000
MIN_BAND_MS = 1_000
BAND_TARGET_ROWS = 2_000
BAND_GROWTH = 8
LAST_BAND_MS = 366 * 86_400_000
RATE_MINUTES = 10


def first_band(r: Redis, owner: str | None, job_id: str | None = None, *, rows: int = BAND_TARGET_ROWS,
               now: int | None = None) -> tuple[int, int]:
    """Where the newest runs of the owner (or of one job) end and how far back about ``rows`` of them go, in
    ms: the end is the newest ``lastRunAt`` of the jobs, the rate comes from the runs series' last
    ``RATE_MINUTES`` minute buckets. ``(now, FIRST_BAND_MS)`` when nothing ran."""
    now = now_ms() if now is None else now
    if not owner:
        return now, FIRST_BAND_MS
    pipe = r.pipeline(transaction=False)
    pipe.execute_command("TS.REVRANGE", keys.series(owner, job_id or keys.ALL_JOBS_SCOPE, "runs", "1m"), "-", "+",
                         "COUNT", RATE_MINUTES)
    pipe.execute_command("FT.SEARCH", keys.IDX_JOBS, search.join([search.tag("owner", owner),
                                                                   search.tag("id", job_id) if job_id else None]),
                         "RETURN", 1, "lastRunAt", "SORTBY", "lastRunAt", "DESC", "LIMIT", 0, 1, "DIALECT", 2)
    buckets, newest = pipe.execute(raise_on_error=False)
    if isinstance(buckets, Exception):  # no such series: nothing ran yet
        return now, FIRST_BAND_MS
    last = None
    if not isinstance(newest, Exception) and len(newest) > 2:
        fields = dict(zip(newest[2][::2], newest[2][1::2]))
        raw = fields.get(b"lastRunAt")
        last = int(float(raw)) if raw else None
    return band_for(buckets, rows, now, last)


def band_for(buckets: list[Any], rows: int, now: int, last_run: int | None = None) -> tuple[int, int]:
    """``first_band`` from a runs series' newest minute buckets (a ``TS.REVRANGE`` reply, newest first; only
    those within ``RATE_MINUTES`` of the newest count) and the newest run's finish when known (else the end
    of the newest bucket)."""
    if not buckets:
        return now, FIRST_BAND_MS
    newest = int(buckets[0][0])
    recent = [(int(ts), float(v)) for ts, v in buckets if int(ts) > newest - RATE_MINUTES * 60_000]
    runs = sum(v for _, v in recent)
    if runs <= 0:
        return now, FIRST_BAND_MS
    end = min(now, last_run if last_run else newest + 60_000)
    span = max(60_000, min(now, newest + 60_000) - recent[-1][0])
    return end, int(min(FIRST_BAND_MS, max(MIN_BAND_MS, rows * span / runs)))


def _bands(query: ExecutionQuery, now: int, first: tuple[int, int] | None = None) -> Iterator[tuple[str, str]]:
    """(low, high) sortKey bounds for FT.SEARCH, in page order; together they cover every matching row
    (the first band reaches up to +inf or the cursor, whatever ``first`` says)."""
    top = f"{query.after.key}" if query.after else "+inf"
    if query.ascending:
        yield ("-inf" if query.after is None else top), "+inf"
        return
    newest, first_ms = first or (now, FIRST_BAND_MS)
    anchor = query.after.key if query.after else min(now, newest, query.to_ms or now) * 1000
    floor = None if query.from_ms is None else query.from_ms * 1000
    width = first_ms * 1000
    while True:
        low = anchor - width
        if width >= LAST_BAND_MS * 1000 or (floor is not None and low <= floor):
            yield "-inf", top
            return
        yield str(low), top
        top, anchor, width = f"({low}", low, width * BAND_GROWTH


def _decode(res: list[Any]) -> list[dict[str, Any]]:
    items = []
    for i in range(1, len(res), 2):
        doc: dict[str, Any] = {}
        for k, v in zip(res[i + 1][::2], res[i + 1][1::2]):
            name = k.decode() if isinstance(k, bytes) else k
            try:
                value = orjson.loads(v)
            except orjson.JSONDecodeError:
                value = v.decode() if isinstance(v, bytes) else v
            # JSONPath results come back as arrays; the SORTBY field comes back bare.
            if isinstance(value, list):
                if value:
                    doc[name] = value[0]
            elif value is not None:
                doc[name] = value
        items.append(doc)
    return items


def _next_cursor(r: Redis, q: str, query: ExecutionQuery, items: list[dict[str, Any]]) -> Cursor:
    """The cursor past ``items``, counting every row passed so far that shares the last row's key."""
    last = int(items[-1]["sortKey"])
    seen = sum(1 for e in items if int(e["sortKey"]) == last)
    after = query.after
    if seen < len(items) or not (query.offset or after):
        return Cursor(last, seen)
    # The whole page has one key and rows were skipped to reach it: some of those may share the key.
    # Rows passed = skipped + shown; the ones ahead of the key are those between the cursor and it.
    ahead = 0
    if after is None or after.key != last:
        near, far = f"({last}", "-inf" if query.ascending else "+inf"
        if after is not None:
            far = str(after.key)
        rng = f"@sortKey:[{far} {near}]" if query.ascending else f"@sortKey:[{near} {far}]"
        ahead = int(r.execute_command("FT.SEARCH", keys.IDX_EXECUTIONS, search.join([_base(q), rng]),
                                      "LIMIT", 0, 0, "DIALECT", 2)[0]) - (after.seen if after else 0)
    return Cursor(last, query.offset + (after.seen if after and after.key == last else 0) + len(items) - ahead)


def _base(q: str) -> str | None:
    return None if q == "*" else q


def search_executions(r: Redis, query: ExecutionQuery, *, count: bool = True) -> Page:
    """A page of executions, newest first (``ascending``: oldest first), list fields and ``sortKey`` only
    (the full document comes from ``get``). ``query.after`` continues where a page's ``next_cursor`` left
    off; ``offset`` skips rows from there. Every page holds ``limit`` rows unless the rows run out.

    ``total`` counts every matching row (one more query in the first round trip); when ``count`` is False
    it is what the pages so far show. Redis sorts only the rows of the bands a page reaches: with
    ``SORTBY`` over the whole result a first page cost 380 ms at a million runs. DIALECT 4's own early
    stop would do the same but returns short pages for filtered queries (still so with a sortKey range,
    RediSearch 2.10), hence DIALECT 3.
    """
    q = query.to_query()
    order = "ASC" if query.ascending else "DESC"
    skip = query.offset + (query.after.seen if query.after else 0)
    want = query.limit + 1  # one more tells whether a next page exists
    rows: list[dict[str, Any]] = []
    total: int | None = None
    now = now_ms()
    job = query.job_id if isinstance(query.job_id, str) else None
    first = None if query.ascending else first_band(r, query.owner, job, now=now)
    for low, high in _bands(query, now, first):
        pipe = r.pipeline(transaction=False)
        band = search.join([_base(q), f"@sortKey:[{low} {high}]"])
        pipe.execute_command("FT.SEARCH", keys.IDX_EXECUTIONS, band, "RETURN", len(_RETURNS), *_RETURNS,
                             "SORTBY", "sortKey", order, "LIMIT", skip, want - len(rows), "DIALECT", 3)
        if count and total is None:
            pipe.execute_command("FT.SEARCH", keys.IDX_EXECUTIONS, q, "LIMIT", 0, 0, "DIALECT", 2)
        replies = pipe.execute()
        if len(replies) > 1:
            total = int(replies[1][0])
        rows += _decode(replies[0])
        skip = max(0, skip - int(replies[0][0]))
        if len(rows) >= want or (total == 0) or (query.after is None and total is not None
                                                  and query.offset + len(rows) >= total):
            break
    items = rows[:query.limit]
    nxt = _next_cursor(r, q, query, items).to_token() if len(rows) > query.limit else None
    return Page(total=total if total is not None else query.offset + len(items), items=items,
                offset=query.offset, limit=query.limit, next_cursor=nxt)
