"""POST /api/batches: the NDJSON format, rejections, auth and ownership (no runner involved)."""
from __future__ import annotations

import orjson
import pytest

from chronos import keys
from tests.test_batches_helpers import NDJSON, config_line, ndjson, records, submit


def post(api, body: bytes, expect: int, headers=None):
    resp = api.post("/api/batches", data=body, headers=NDJSON if headers is None else headers)
    assert resp.status_code == expect, resp.get_data(as_text=True)
    return resp.get_json()


def test_it_accepts_a_batch_like_the_go_service(api):
    resp = api.post("/api/batches", data=ndjson(config_line(9), records(5)), headers=NDJSON)
    assert resp.status_code == 202
    body = resp.get_json()
    assert body["message"] == "Job accepted" and body["job_id"].startswith("job-")
    assert resp.headers["X-Job-ID"] == body["job_id"]
    assert body["accepted"] == 5 and body["rejectedCount"] == 0
    batch = api.get(f"/api/batches/{body['job_id']}").get_json()
    assert batch["state"] == "queued" and batch["total"] == 5 and batch["pending"] == 5
    assert batch["receiving"] is False
    assert batch["target"]["url"] == "http://127.0.0.1:9/hook" and batch["target"]["method"] == "POST"
    assert batch["target"]["timeoutMs"] == 10_000 and batch["target"]["retries"] == 3
    assert batch["target"]["concurrency"] == 64


@pytest.mark.parametrize("ctype", ["application/x-ndjson", "application/jsonl", "application/x-ndjson; charset=utf-8"])
def test_it_accepts_both_ndjson_content_types(api, ctype):
    post(api, ndjson(config_line(9), records(1)), 202, {"Content-Type": ctype})


@pytest.mark.parametrize("ctype", ["application/json", "text/plain", None])
def test_it_refuses_other_content_types_with_415(api, ctype):
    headers = {"Content-Type": ctype} if ctype else {}
    body = post(api, ndjson(config_line(9), records(1)), 415, headers)
    assert "application/x-ndjson" in body["error"]["message"]


@pytest.mark.parametrize("config, fragment", [
    (b"not json", "not valid JSON"),
    (b"[1, 2]", "configuration object"),
    (orjson.dumps({"id": 1, "payload": "x"}), "configuration object"),
    (orjson.dumps({"protocol": "http", "port": "80"}), "host"),
    (orjson.dumps({"protocol": "ftp", "host": "127.0.0.1"}), "protocol"),
    (orjson.dumps({"host": "127.0.0.1", "port": "eighty"}), "port"),
    (orjson.dumps({"host": "127.0.0.1", "port": 70000}), "port"),
    (orjson.dumps({"host": "127.0.0.1", "path": "/a b"}), "path"),
    (orjson.dumps({"host": "127.0.0.1", "path": "/a\n"}), "path"),
    (orjson.dumps({"host": "127.0.0.1", "headers": {"X-A\n": "1"}}), "header"),
    (orjson.dumps({"host": "127.0.0.1", "method": "TRACE"}), "method"),
    (orjson.dumps({"host": "127.0.0.1", "headers": {"X-A": "1\r\nX-B: 2"}}), "line break"),
    (orjson.dumps({"host": "127.0.0.1", "headers": {"Content-Length": "5"}}), "set by the runner"),
    (orjson.dumps({"host": "127.0.0.1", "timeoutMs": 0}), "timeoutMs"),
    (orjson.dumps({"host": "127.0.0.1", "retries": 11}), "retries"),
])
def test_it_rejects_a_batch_whose_config_line_is_bad(api, r, config, fragment):
    body = post(api, config + b"\n" + orjson.dumps({"id": 1, "payload": "{}"}) + b"\n", 400)
    assert fragment in body["error"]["message"]
    assert not list(r.scan_iter(keys.batch("*")))  # nothing stored


def test_an_empty_body_is_rejected(api):
    body = post(api, b"\n\n", 400)
    assert "empty body" in body["error"]["message"]


def test_it_reports_bad_record_lines_with_line_numbers_and_skips_them(api):
    lines = [
        {"id": 1, "payload": "{}"},            # line 2
        "{not json",                           # line 3
        {"payload": "{}"},                     # line 4: no id
        {"id": 1, "payload": "{}"},            # line 5: duplicate
        "",                                    # line 6: blank, ignored
        {"id": 2},                             # line 7: no payload
        {"id": 3, "payload": 5},               # line 8: payload of the wrong type
        {"id": True, "payload": "{}"},         # line 9: id of the wrong type
        {"id": "1", "payload": "{}"},          # line 10: ids compare as text, so "1" repeats 1
        {"id": "a", "payload": {"k": [1, 2]}},  # line 11: an object payload is fine
    ]
    body = post(api, ndjson(config_line(9), lines), 202)
    assert body["accepted"] == 2 and body["rejectedCount"] == 7
    got = {x["line"]: x["error"] for x in body["rejected"]}
    assert set(got) == {3, 4, 5, 7, 8, 9, 10}
    assert "invalid JSON" in got[3] and got[4] == "missing id" and got[5] == "duplicate id"
    assert got[7] == "missing payload" and "payload must be" in got[8] and "id must be" in got[9]
    assert got[10] == "duplicate id"
    kept = api.get(f"/api/batches/{body['job_id']}/rejected").get_json()
    assert kept["total"] == 7 and [x["line"] for x in kept["rejected"]] == [3, 4, 5, 7, 8, 9, 10]
    assert api.get(f"/api/batches/{body['job_id']}").get_json()["rejectedLines"] == 7


def test_a_line_over_the_limit_is_rejected_and_the_next_lines_still_count(api):
    huge = orjson.dumps({"id": 1, "payload": "x" * (1024 * 1024 + 10)})
    body = post(api, ndjson(config_line(9), [huge, {"id": 2, "payload": "{}"}]), 202)
    assert body["accepted"] == 1 and body["rejected"] == [{"line": 2, "error": "longer than 1048576 bytes"}]


def test_a_record_without_a_trailing_newline_counts(api):
    data = ndjson(config_line(9), records(3)).rstrip(b"\n")
    assert post(api, data, 202)["accepted"] == 3


@pytest.mark.parametrize("host", ["example.com", "10.1.2.3", "169.254.169.254", "metadata.google.internal"])
def test_it_refuses_targets_outside_the_allow_list(api, r, host):
    body = post(api, ndjson(config_line(80, host=host), records(1)), 400)
    assert body["error"]["code"] == "outbound_refused"
    assert not list(r.scan_iter(keys.batch("*")))


def test_it_keeps_the_callers_primarykey(api):
    sub = submit(api, ndjson(config_line(9, primarykey="batch-001",
                                         metadata=[{"key": "tenant_id", "value": "t-1"}]), records(2)))
    assert sub["primarykey"] == "batch-001" and sub["job_id"] != "batch-001"
    batch = api.get(f"/api/batches/{sub['job_id']}").get_json()
    assert batch["primarykey"] == "batch-001"
    assert batch["metadata"] == [{"key": "tenant_id", "value": "t-1"}]


def test_header_values_are_not_shown_back(api):
    sub = submit(api, ndjson(config_line(9, headers={"Authorization": "Bearer s3cret"}), records(1)))
    resp = api.get(f"/api/batches/{sub['job_id']}")
    assert resp.get_json()["headers"] == ["Authorization"] and b"s3cret" not in resp.data


def test_another_owner_gets_404(api, client, make_user):
    sub = submit(api, ndjson(config_line(9), records(2)))
    _, key = make_user("bob@example.com")
    h = {"x-api-key": key}
    for path in ("", "/records", "/rejected"):
        assert client.get(f"/api/batches/{sub['job_id']}{path}", headers=h).status_code == 404
    for action in ("cancel", "retry-failed"):
        assert client.post(f"/api/batches/{sub['job_id']}/{action}", headers=h).status_code == 404
    assert client.get("/api/batches", headers=h).get_json()["batches"] == []
    assert api.get(f"/api/batches/{sub['job_id']}").status_code == 200


def test_submitting_needs_the_ingest_scope_and_reading_the_read_scope(client, make_user):
    _, reader = make_user("reader@example.com", scopes=("read",))
    _, writer = make_user("writer@example.com", scopes=("ingest",))
    data = ndjson(config_line(9), records(1))
    assert client.post("/api/batches", data=data, headers={"x-api-key": reader, **NDJSON}).status_code == 403
    resp = client.post("/api/batches", data=data, headers={"x-api-key": writer, **NDJSON})
    assert resp.status_code == 202
    job = resp.get_json()["job_id"]
    assert client.get(f"/api/batches/{job}", headers={"x-api-key": writer}).status_code == 403
    assert client.post("/api/batches", data=data, headers=NDJSON).status_code == 401


def test_the_list_shows_the_owners_batches_newest_first(api):
    ids = [submit(api, ndjson(config_line(9), records(i + 1)))["job_id"] for i in range(3)]
    api.post(f"/api/batches/{ids[0]}/cancel")
    listed = api.get("/api/batches").get_json()
    assert [b["id"] for b in listed["batches"]] == ids[::-1] and listed["total"] == 3
    assert [b["total"] for b in listed["batches"]] == [3, 2, 1]
    cancelled = api.get("/api/batches?state=cancelled").get_json()
    assert [b["id"] for b in cancelled["batches"]] == [ids[0]] and cancelled["total"] == 1
    assert [b["id"] for b in api.get("/api/batches?limit=1&offset=1").get_json()["batches"]] == [ids[1]]
    assert api.get("/api/batches?state=bogus").status_code == 400


def test_a_queued_batch_can_be_cancelled_once(api):
    sub = submit(api, ndjson(config_line(9), records(4)))
    first = api.post(f"/api/batches/{sub['job_id']}/cancel").get_json()
    assert first["cancelled"] is True
    batch = first["batch"]
    assert batch["state"] == "cancelled" and batch["cancelled"] == 4 and batch["pending"] == 0
    assert batch["finishedAt"]
    assert api.post(f"/api/batches/{sub['job_id']}/cancel").get_json()["cancelled"] is False
    page = api.get(f"/api/batches/{sub['job_id']}/records?status=pending").get_json()
    assert [(x["id"], x["status"]) for x in page["records"]] == [(i, "cancelled") for i in range(4)]


def test_retry_failed_needs_a_completed_batch(api):
    sub = submit(api, ndjson(config_line(9), records(1)))
    resp = api.post(f"/api/batches/{sub['job_id']}/retry-failed")
    assert resp.status_code == 409 and "completed" in resp.get_json()["error"]["message"]


def test_records_paging_arguments_are_checked(api):
    sub = submit(api, ndjson(config_line(9), records(3)))
    base = f"/api/batches/{sub['job_id']}/records"
    assert api.get(base + "?status=nope").status_code == 400
    assert api.get(base + "?limit=0").status_code == 400
    page = api.get(base + "?status=all&limit=2").get_json()
    assert [x["id"] for x in page["records"]] == [0, 1] and page["next"] == 1
    rest = api.get(base + f"?status=all&limit=2&after={page['next']}").get_json()
    assert [x["id"] for x in rest["records"]] == [2] and rest["next"] is None
    assert all(x["status"] == "pending" and x["httpStatus"] is None for x in page["records"])


def test_unknown_and_malformed_batch_ids_are_404(api):
    assert api.get("/api/batches/job-00000000-0000-0000-0000-000000000000").status_code == 404
    assert api.get("/api/batches/nope").status_code == 404
