"""Error grouping: variants of one error share a fingerprint, different errors stay apart."""
from __future__ import annotations

from chronos.fingerprint import fingerprint, normalize_message, top_user_frame
from tests.helpers import batch, execution

STACK = '''Traceback (most recent call last):
  File "/srv/app/jobs/sync.py", line {line}, in run_sync
    fetch()
  File "/usr/lib/python3.11/site-packages/requests/api.py", line 59, in request
    return session.request()
TimeoutError: timeout'''


def test_variants_of_one_error_form_one_group():
    messages = ["timeout after 31s on host a1", "timeout after 45s on host b7", "timeout after 2s on host c12",
                "timeout after 120s on host zz9", "timeout after 31.5s on host a1"]
    groups = {fingerprint("TimeoutError", m, STACK.format(line=10 + i)) for i, m in enumerate(messages)}
    assert len(groups) == 1
    other = fingerprint("TimeoutError", "connection refused by upstream", STACK.format(line=10))
    assert other not in groups
    assert fingerprint("ValueError", messages[0], STACK.format(line=10)) not in groups


def test_volatile_parts_are_normalised():
    assert normalize_message("row 1234 of '/data/in.csv' id 550e8400-e29b-41d4-a716-446655440000 at 0xdeadbeef") == \
        "row <n> of <str> id <uuid> at <hex>"
    assert normalize_message("cannot reach db-3.internal:5432 from 10.0.0.7") == "cannot reach <host>:<n> from <ip>"
    assert normalize_message("GET https://api.example.com/v1/x?id=9 failed") == "GET <url> failed"


def test_the_top_frame_is_the_users_not_a_librarys():
    assert top_user_frame(STACK.format(line=3)) == "sync.py:run_sync"
    assert top_user_frame("no frames here") == ""


def test_failed_executions_carry_their_group_and_can_be_filtered(api, r):
    api.post("/api/ingest/executions/batch", batch(
        execution("a", "j", "failed", errorType="TimeoutError", errorMessage="timeout after 31s on host a1"),
        execution("b", "j", "failed", errorType="TimeoutError", errorMessage="timeout after 45s on host b7"),
        execution("c", "j", "success")))
    a, b = api.get("/api/executions/a").json, api.get("/api/executions/b").json
    assert a["errorGroup"] == b["errorGroup"]
    assert "errorGroup" not in api.get("/api/executions/c").json
    res = r.execute_command("FT.SEARCH", "idx:chr:executions", "@errorGroup:{%s}" % a["errorGroup"], "LIMIT", 0, 0)
    assert res[0] == 2
