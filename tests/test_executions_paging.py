"""Execution pages at a size where paging mistakes show: full pages, every row once, one owner's rows only.

Two owners' runs are interleaved over 40 days (plus a few started in the future and a few two years
ago), 30 of them share one ``sortKey``, so cursor walks cross every band the store reads, and ties.
The expected rows are computed here in Python from the same documents.
"""
from __future__ import annotations

import re
import zlib
from dataclasses import replace
from typing import Any, Callable

import orjson
import pytest

from chronos import keys
from chronos.store import executions as exec_store
from chronos.store.executions import Cursor, ExecutionQuery
from chronos.telemetry import build_execution
from chronos.timeutil import now_ms

DAY = 86_400_000
A, B = "u-paging-a", "u-paging-b"
ERRORS = [("TimeoutError", "timeout after {n}s waiting for upstream"), ("KeyError", "customer_{n} missing"),
          ("ConnectionRefusedError", "connection refused by db-{n}")]


def tie_ids(count: int) -> list[str]:
    """``count`` execution ids whose crc32 agree mod 1000, so runs started in one millisecond share a sortKey."""
    by_rest: dict[int, list[str]] = {}
    n = 0
    while True:
        exec_id = f"tie-{n}"
        group = by_rest.setdefault(zlib.crc32(exec_id.encode()) % 1000, [])
        group.append(exec_id)
        if len(group) == count:
            return group
        n += 1


def events(owner_tag: str, count: int, jobs: int, now: int, step: int) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        roll = (i * 7919) % 100
        status = "success" if roll < 85 else "failed" if roll < 95 else "timeout" if roll < 98 else "cancelled"
        started = now - 40 * DAY + i * step + (i * 104729) % 997
        ev: dict[str, Any] = {"execId": f"{owner_tag}-{i:05d}", "jobId": f"job-{i % jobs:02d}", "status": status,
                              "startedAt": started, "finishedAt": started + 500, "durationMs": 500,
                              "labels": {"env": "prod" if i % 3 else "staging"}}
        if status in ("failed", "timeout"):
            etype, msg = ERRORS[i % len(ERRORS)]
            ev.update(errorType=etype, errorMessage=msg.format(n=i % 9))
        out.append(ev)
    return out


def store(r, owner: str, evs: list[dict[str, Any]], now: int) -> list[dict[str, Any]]:
    """The documents ingestion would store for ``evs``, written straight to Redis (the search is under test)."""
    docs = [build_execution(ev, owner=owner, job_name=f"Paging {ev['jobId']}", received_ms=now, max_log_bytes=4096)
            for ev in evs]
    pipe = r.pipeline(transaction=False)
    for doc in docs:
        pipe.execute_command("JSON.SET", keys.execution(owner, doc["execId"]), "$", orjson.dumps(doc))
    pipe.execute()
    return docs


@pytest.fixture
def two_owners(r) -> dict[str, list[dict[str, Any]]]:
    now = now_ms()
    a = events("a", 6000, 60, now, 40 * DAY // 6000)
    b = events("b", 1500, 15, now, 40 * DAY // 1500)
    tie_at = now - 3 * DAY
    a += [{"execId": e, "jobId": "job-00", "status": "failed", "startedAt": tie_at, "durationMs": 10,
           "errorType": "TimeoutError", "errorMessage": "timeout in the tie"} for e in tie_ids(30)]
    a += [{"execId": f"a-future-{i}", "jobId": "job-01", "status": "running", "startedAt": now + (i + 1) * 3_600_000}
          for i in range(5)]
    a += [{"execId": f"a-old-{i}", "jobId": "job-01", "status": "success", "startedAt": now - 730 * DAY + i,
           "durationMs": 1} for i in range(10)]
    return {A: store(r, A, a, now), B: store(r, B, b, now)}


def words_start(doc: dict[str, Any], prefix: str) -> bool:
    return any(w.lower().startswith(prefix) for f in ("errorMessage", "errorType", "jobName")
               for w in re.findall(r"\w+", str(doc.get(f, ""))))


def expected(docs: list[dict[str, Any]], keep: Callable[[dict[str, Any]], bool], ascending: bool = False) -> list[int]:
    return sorted((d["sortKey"] for d in docs if keep(d)), reverse=not ascending)


def walk(r, query: ExecutionQuery) -> list[list[dict[str, Any]]]:
    """Every page of ``query``, following ``next_cursor``; the pages' totals all agree."""
    pages, totals, after = [], set(), query.after
    while True:
        page = exec_store.search_executions(r, replace(query, after=after))
        pages.append(page.items)
        totals.add(page.total)
        if page.next_cursor is None:
            break
        after = Cursor.from_token(page.next_cursor)
        assert len(pages) < 2000
    assert len(totals) == 1
    return pages


def assert_pages(pages: list[list[dict[str, Any]]], limit: int, want: list[int], owner: str) -> None:
    rows = [e for p in pages for e in p]
    assert all(len(p) == limit for p in pages[:-1]), [len(p) for p in pages]  # no short page before the end
    assert len(pages[-1]) <= limit and (pages[-1] or len(pages) == 1)
    assert [e["sortKey"] for e in rows] == want  # order, and nothing skipped or repeated ...
    assert len({e["execId"] for e in rows}) == len(rows)  # ... tied keys included
    assert {e["owner"] for e in rows} <= {owner}


FILTERS: list[tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
    ({}, lambda d: True),
    ({"status": ("failed",)}, lambda d: d["status"] == "failed"),
    ({"status": ("timeout", "cancelled")}, lambda d: d["status"] in ("timeout", "cancelled")),
    ({"job_id": "job-07"}, lambda d: d["jobId"] == "job-07"),
    ({"job_id": "job-00", "status": ("failed",)}, lambda d: d["jobId"] == "job-00" and d["status"] == "failed"),
    ({"q": "timeout"}, lambda d: words_start(d, "timeout")),
    ({"q": "refused", "status": ("failed",)}, lambda d: words_start(d, "refused") and d["status"] == "failed"),
    ({"label": "env:staging", "job_id": "job-03"},
     lambda d: d.get("labels", {}).get("env") == "staging" and d["jobId"] == "job-03"),
    ({"q": "no-such-words"}, lambda d: False),
]


# The unfiltered walk runs with the larger page only (900 pages otherwise).
WALKS = [(f, keep, limit) for f, keep in FILTERS for limit in (7, 50) if f or limit == 50]


@pytest.mark.parametrize("filters,keep,limit", WALKS, ids=[f"{f or 'all'}-{n}" for f, _, n in WALKS])
def test_cursor_pages_are_full_and_hold_every_matching_row_once(r, two_owners, filters, keep, limit):
    want = expected(two_owners[A], keep)
    pages = walk(r, ExecutionQuery(owner=A, limit=limit, **filters))
    assert_pages(pages, limit, want, A)
    assert exec_store.search_executions(r, ExecutionQuery(owner=A, limit=1, **filters)).total == len(want)


def test_a_time_range_pages_only_its_rows_and_reaches_the_end(r, two_owners):
    now = now_ms()
    frm, to = now - 25 * DAY, now - 10 * DAY
    for filters, keep in [({}, lambda d: True), ({"status": ("failed", "timeout")},
                                                 lambda d: d["status"] in ("failed", "timeout"))]:
        want = expected(two_owners[A], lambda d, keep=keep: frm <= d["startedAt"] <= to and keep(d))
        assert len(want) > 100
        assert_pages(walk(r, ExecutionQuery(owner=A, from_ms=frm, to_ms=to, limit=25, **filters)), 25, want, A)


def test_runs_sharing_a_sort_key_are_neither_skipped_nor_repeated_across_pages(r, two_owners):
    ties = [d for d in two_owners[A] if d["execId"].startswith("tie-")]
    assert len({d["sortKey"] for d in ties}) == 1 and len(ties) == 30
    for limit in (4, 7, 30, 31):
        pages = walk(r, ExecutionQuery(owner=A, job_id="job-00", status=("failed",), q="tie", limit=limit))
        assert_pages(pages, limit, [ties[0]["sortKey"]] * 30, A)
    # A cursor from an offset page that holds one key only counts the tied rows before it too.
    first = exec_store.search_executions(r, ExecutionQuery(owner=A, q="tie", offset=5, limit=10))
    rest = walk(r, ExecutionQuery(owner=A, q="tie", limit=10, after=Cursor.from_token(first.next_cursor)))
    ids = [e["execId"] for e in first.items] + [e["execId"] for p in rest for e in p]
    assert len(ids) == 25 and len(set(ids)) == 25


def test_page_numbers_read_the_same_rows_as_the_cursor(r, two_owners):
    query = ExecutionQuery(owner=A, status=("failed",), limit=25)
    pages = walk(r, query)
    for n in (0, 1, 2, 9, len(pages) - 1):
        page = exec_store.search_executions(r, replace(query, offset=n * 25))
        assert [e["execId"] for e in page.items] == [e["execId"] for e in pages[n]]
        assert page.next_offset == ((n + 1) * 25 if n < len(pages) - 1 else None)
    deep = exec_store.search_executions(r, ExecutionQuery(owner=A, offset=5000, limit=25))
    assert [e["sortKey"] for e in deep.items] == expected(two_owners[A], lambda d: True)[5000:5025]
    beyond = exec_store.search_executions(r, ExecutionQuery(owner=A, offset=len(two_owners[A]), limit=25))
    assert beyond.items == [] and beyond.next_cursor is None and beyond.total == len(two_owners[A])


def test_oldest_first_pages_walk_the_other_way(r, two_owners):
    pages = walk(r, ExecutionQuery(owner=A, job_id="job-05", ascending=True, limit=9))
    assert_pages(pages, 9, expected(two_owners[A], lambda d: d["jobId"] == "job-05", ascending=True), A)


def test_each_owner_pages_through_its_own_runs_only(r, two_owners):
    assert_pages(walk(r, ExecutionQuery(owner=B, limit=50)), 50, expected(two_owners[B], lambda d: True), B)
    assert_pages(walk(r, ExecutionQuery(owner=B, job_id="job-07", limit=7)), 7,
                 expected(two_owners[B], lambda d: d["jobId"] == "job-07"), B)
    everyone = exec_store.search_executions(r, ExecutionQuery(owner=None, limit=5))
    assert everyone.total == len(two_owners[A]) + len(two_owners[B])
    # Query syntax in the text is searched as words: it never widens the query to another owner.
    for text in (f"@owner:{{{B}}}", "* | @owner:{u\\-paging\\-b}"):
        assert exec_store.search_executions(r, ExecutionQuery(owner=A, q=text)).total == 0
    no_words = exec_store.search_executions(r, ExecutionQuery(owner=A, q=")(|*", limit=200))
    assert no_words.total == len(two_owners[A]) and {e["owner"] for e in no_words.items} == {A}


def test_the_jobs_pages_last_runs_are_each_jobs_newest_whether_recent_or_not(r, two_owners):
    from chronos import dashboard

    for n in (5, 40):  # 5: every job ran that often within the week; 40: older runs too
        runs = dashboard.recent_runs(r, A, ["job-07", "job-01", "never-ran"], n=n)
        for job_id in ("job-07", "job-01"):
            newest = sorted((d for d in two_owners[A] if d["jobId"] == job_id), key=lambda d: -d["sortKey"])[:n]
            assert runs[job_id] == [{"durationMs": d.get("durationMs"), "status": d["status"]} for d in newest[::-1]]
        assert runs["never-ran"] == []


def test_a_cursor_token_reads_back_and_rejects_anything_else():
    assert Cursor.from_token(Cursor(1_795_411_572_639_494, 3).to_token()) == Cursor(1_795_411_572_639_494, 3)
    for bad in ("", "12", "k", "k12", "k1.x", "k1.2.3", "k1.2 ", "k" + "9" * 20 + ".1"):
        with pytest.raises(ValueError):
            Cursor.from_token(bad)


# ---- GET /api/executions -------------------------------------------------------------------------------

def api_walk(api, path: str, **params: Any) -> list[dict[str, Any]]:
    items, cursor = [], None
    while True:
        query = "&".join(f"{k}={v}" for k, v in {**params, **({"cursor": cursor} if cursor else {})}.items())
        body = api.get(f"{path}?{query}").get_json()
        assert len(body["items"]) == params["limit"] or body["nextCursor"] is None
        items += body["items"]
        cursor = body["nextCursor"]
        if cursor is None:
            return items


def test_the_api_follows_next_cursor_and_still_takes_offsets(r, api):
    now = now_ms()
    evs = events("api", 700, 7, now, 3_600_000) + [
        {"execId": e, "jobId": "job-01", "status": "success", "startedAt": now - DAY, "durationMs": 1}
        for e in tie_ids(12)]
    assert api.post("/api/ingest/executions/batch", {"executions": evs}).status_code == 200
    store(r, B, events("other", 300, 7, now, 3_600_000), now)
    docs = [build_execution(ev, owner="", job_name="", received_ms=now, max_log_bytes=1) for ev in evs]
    newest_first = [d["execId"] for d in sorted(docs, key=lambda d: -d["sortKey"])]
    items = api_walk(api, "/api/executions", limit=40)
    assert len(items) == len(docs) == len({e["execId"] for e in items})
    assert [e["execId"] for e in items if not e["execId"].startswith("tie-")] == \
        [e for e in newest_first if not e.startswith("tie-")]
    assert all("sortKey" not in e for e in items)
    job = api_walk(api, "/api/jobs/job-01/executions", limit=9)  # the 12 tied runs come first
    assert sorted(e["execId"] for e in job) == sorted(d["execId"] for d in docs if d["jobId"] == "job-01")
    first = api.get("/api/executions?limit=10").get_json()
    assert first["total"] == len(docs) and first["nextCursor"].startswith("k")
    # Offsets, as cursors before tokens or as ?offset=, give the same rows as the token.
    by_token = api.get(f"/api/executions?limit=10&cursor={first['nextCursor']}").get_json()["items"]
    for legacy in ("cursor=10", "offset=10"):
        assert api.get(f"/api/executions?limit=10&{legacy}").get_json()["items"] == by_token
    for bad in ("cursor=kk", "cursor=k1", "cursor=-3", "cursor=k1.1&limit=0", "cursor=k1.1&limit=x"):
        assert api.get(f"/api/executions?{bad}").status_code == 400


def test_a_busy_owners_pages_start_from_a_band_sized_to_its_rate(app, r):
    """An owner that ran 6,000 times in the last half minute (plus runs an hour, a day and a year ago): the
    first band ends at the newest run and spans about 2,000 runs' worth of time, far less than an hour; the
    cursor walks and the jobs' last runs still hold every row once, in order, old runs included."""
    from chronos import dashboard
    from chronos.store import recording

    state = app.extensions["chronos"]
    owner, now = "u-paging-busy", now_ms()
    evs = [{"execId": f"busy-{i:05d}", "jobId": f"job-{i % 3}", "status": "failed" if i % 10 == 0 else "success",
            "startedAt": now - 30_000 + i * 5 - 40, "finishedAt": now - 30_000 + i * 5, "durationMs": 40,
            **({"errorMessage": f"timeout number {i}"} if i % 10 == 0 else {})} for i in range(6000)]
    evs += [{"execId": f"busy-old-{i}", "jobId": f"job-{i % 3}", "status": "success", "startedAt": now - ago - 5,
             "finishedAt": now - ago, "durationMs": 5} for i, ago in enumerate((3_600_000, DAY, 300 * DAY))]
    recording.record(r, state.scripts, owner, evs, state.settings)
    docs = [orjson.loads(r.execute_command("JSON.GET", keys.execution(owner, e["execId"]))) for e in evs]

    end, width = exec_store.first_band(r, owner, now=now)
    assert end == max(d["finishedAt"] for d in docs)
    assert exec_store.MIN_BAND_MS <= width <= 30_000 < exec_store.FIRST_BAND_MS
    _, job_width = exec_store.first_band(r, owner, "job-1", now=now)
    assert job_width > width  # a third of the runs: a wider band for the same number of rows

    for filters, keep in (({}, lambda d: True), ({"q": "timeout"}, lambda d: "timeout" in d.get("errorMessage", "")),
                          ({"job_id": "job-2"}, lambda d: d["jobId"] == "job-2")):
        pages = walk(r, ExecutionQuery(owner=owner, limit=500, **filters))
        assert_pages(pages, 500, expected(docs, keep), owner)
    last_runs = {f"job-{j}": max(d["finishedAt"] for d in docs if d["jobId"] == f"job-{j}") for j in range(3)}
    for hint in (None, last_runs):
        runs = dashboard.recent_runs(r, owner, list(last_runs), n=20, last_runs=hint)
        for job_id in last_runs:
            newest = sorted((d for d in docs if d["jobId"] == job_id), key=lambda d: -d["sortKey"])[:20]
            assert runs[job_id] == [{"durationMs": d["durationMs"], "status": d["status"]} for d in newest[::-1]]


def test_an_admin_finds_any_accounts_execution_by_id(app, r):
    """execId is not indexed: the lookup across owners reads the id's key under each account."""
    from chronos.store import recording

    state = app.extensions["chronos"]
    now = now_ms()
    r.sadd(keys.users(), "u-find-a", "u-find-b")
    for owner in ("u-find-a", "u-find-b"):
        recording.record(r, state.scripts, owner, [{"execId": f"{owner}-run", "jobId": "j", "status": "success",
                                                    "startedAt": now - 10, "finishedAt": now}], state.settings)
    assert exec_store.find_by_id(r, "u-find-b-run")["owner"] == "u-find-b"
    assert exec_store.find_by_id(r, "u-find-a-run")["owner"] == "u-find-a"
    assert exec_store.find_by_id(r, "no-such-run") is None
    info = r.execute_command("FT.INFO", keys.IDX_EXECUTIONS)
    attrs = dict(zip(info[::2], info[1::2]))[b"attributes"]
    assert b"execId" not in {dict(zip(a[::2], a[1::2]))[b"attribute"] for a in attrs}
