"""Fuzzing what takes free input: the NDJSON parsers, the ping endpoints and the execution batch endpoint.

Hypothesis drives the pure parsers with arbitrary bytes, and the endpoints with hostile input (invalid UTF-8,
deep nesting, huge fields, wrong content types, odd path segments). Nothing answers 5xx; what is refused is
refused with a reason and leaves nothing behind; what is accepted is stored as sent.
"""
from __future__ import annotations

import io
from urllib.parse import quote

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chronos.batches.model import RecordError, parse_record
from chronos.batches.submit import UploadAborted, lines
from tests.helpers import batch, execution
from tests.test_batches_helpers import NDJSON, config_line
from tests.test_ping import ping_url

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
BATCH = "/api/ingest/executions/batch"

int64 = st.integers(-2**63, 2**63 - 1)  # what JSON numbers the parsers take as integers
json_values = st.recursive(
    st.none() | st.booleans() | int64 | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


class Trickle(io.BytesIO):
    """A body that arrives a few bytes per read, so lines straddle read blocks."""

    def __init__(self, data: bytes, block: int) -> None:
        super().__init__(data)
        self.block = block

    def read(self, n: int | None = -1) -> bytes:
        return super().read(self.block if n is None or n < 0 else min(n, self.block))


# ---- the NDJSON line splitter and record parser (pure) -------------------------------------------

@FUZZ
@given(parts=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30),
       trailing_newline=st.booleans(), max_line=st.integers(1, 30), block=st.integers(1, 64))
def test_every_line_is_numbered_and_only_long_ones_are_dropped(parts, trailing_newline, max_line, block):
    body = b"\n".join(parts) + (b"\n" if trailing_newline and parts else b"")
    split = body.split(b"\n")
    if split[-1] == b"":
        split.pop()  # a trailing newline ends the last line; it does not start another
    expected = [(i, p if len(p) <= max_line else None) for i, p in enumerate(split, 1)]
    assert list(lines(Trickle(body, block), max_line, 0)) == expected


@FUZZ
@given(body=st.binary(min_size=11, max_size=200), block=st.integers(1, 64))
def test_an_upload_over_the_limit_is_refused_as_too_large(body, block):
    with pytest.raises(UploadAborted) as refused:
        list(lines(Trickle(body, block), 1000, 10))
    assert refused.value.status == 413


@FUZZ
@given(line=st.binary(max_size=120) | json_values.map(orjson.dumps)
       | st.fixed_dictionaries({"id": int64 | st.text(max_size=10) | json_values,
                                "payload": json_values}).map(orjson.dumps))
def test_a_record_line_parses_or_is_refused_with_a_reason(line):
    try:
        id_text, id_json, body = parse_record(line)
    except RecordError as exc:
        assert str(exc)
        return
    record = orjson.loads(line)
    assert id_text == str(record["id"]) and orjson.loads(id_json) == record["id"]
    payload = record["payload"]
    assert body == (payload.encode() if isinstance(payload, str) else orjson.dumps(payload))


# ---- POST /api/batches (NDJSON over HTTP) ----------------------------------------------------------

record_lines = st.lists(
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b""))  # garbage, often invalid UTF-8
    | st.fixed_dictionaries({"id": st.integers(0, 30) | st.text(max_size=6), "payload": json_values})
        .map(orjson.dumps),
    min_size=1, max_size=25)


@FUZZ
@given(records=record_lines)
def test_an_ndjson_batch_accepts_or_rejects_every_line_and_never_fails(api, records):
    resp = api.post("/api/batches", data=b"\n".join([orjson.dumps(config_line(9)), *records]) + b"\n",
                    headers=NDJSON)
    assert resp.status_code < 500, resp.get_data(as_text=True)
    body = resp.get_json()
    if resp.status_code != 202:
        assert resp.status_code == 400 and body["error"]["message"]
        return
    assert body["accepted"] + body["rejectedCount"] == sum(1 for line in records if line.strip())  # blank: skipped
    assert api.get(f"/api/batches/{body['job_id']}").get_json()["total"] == body["accepted"]


# ---- pings ------------------------------------------------------------------------------------------

@pytest.fixture
def ping_path(api):
    return ping_url(api)


def valid_signal(signal: str) -> bool:
    return signal in ("", "start", "fail", "log") or (signal.isascii() and signal.isdigit() and int(signal) <= 255)


@FUZZ
@given(signal=st.sampled_from(["", "start", "fail", "log", "0", "255", "256", "-1", "²", "١", "0x1", "fail\n"])
       | st.text(max_size=6),
       rid=st.none() | st.sampled_from(["R1", "a.b-c_d", "R1\n", "", "x" * 101]) | st.text(max_size=8),
       body=st.binary(max_size=300), method=st.sampled_from(["GET", "POST", "HEAD"]))
def test_a_ping_is_recorded_or_refused_and_never_fails(api, client, ping_path, signal, rid, body, method):
    path = f"{ping_path}/{quote(signal, safe='')}" if signal else ping_path
    query = {} if rid is None else {"rid": rid}
    resp = client.open(path, method=method, query_string=query, data=body if method == "POST" else None)
    assert resp.status_code < 500
    rid_ok = rid is None or (0 < len(rid) <= 100 and rid.isascii() and all(c.isalnum() or c in "_.-" for c in rid))
    if "/" not in signal and valid_signal(signal) and rid_ok:
        assert resp.status_code == 200
    elif "/" not in signal:
        assert resp.status_code in (400, 404)


def test_a_ping_body_that_is_not_utf8_is_kept_as_text(api, client, ping_path):
    assert client.post(f"{ping_path}/fail", data=b"disk \xff\xfe full \xc3(").status_code == 200
    [run] = api.get("/api/jobs/backup/executions").json["items"]
    stdout = api.get(f"/api/executions/{run['execId']}").json["stdout"]
    assert stdout.startswith("disk ") and stdout.endswith(" full \ufffd(") and run["status"] == "failed"


# ---- POST /api/ingest/executions/batch ---------------------------------------------------------------

@FUZZ
@given(fields=st.dictionaries(
    st.sampled_from(["status", "startedAt", "finishedAt", "durationMs", "exitCode", "errorMessage", "attempt",
                     "labels", "metadata", "stdout", "jobVersion", "somethingNew"]), json_values, max_size=4))
def test_an_execution_with_any_field_values_is_stored_whole_or_refused_whole(api, fields):
    exec_id = f"fz-{abs(hash(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS))) % 10**12}"
    event = {**execution(exec_id), **fields}
    resp = api.post(BATCH, batch(execution(f"{exec_id}-ok"), event))
    assert resp.status_code < 500, resp.json
    stored = api.get(f"/api/executions/{exec_id}-ok").status_code
    if resp.status_code == 200:
        assert stored == 200 and api.get(f"/api/executions/{exec_id}").status_code == 200
    else:
        assert resp.status_code == 400 and resp.json["error"]["details"][0]["index"] == 1
        assert stored == 404  # all or nothing: the valid event of a refused batch is not kept either


def nested(depth: int) -> object:
    value: object = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize("where", ["metadata", "somethingNew"])
def test_deep_nesting_is_refused_with_400_and_stores_nothing(api, where):
    resp = api.post(BATCH, batch(execution("deep-ok"), execution("deep", **{where: nested(200)})))
    assert resp.status_code == 400, resp.json
    assert "nest" in resp.json["error"]["message"]
    assert api.get("/api/executions/deep-ok").status_code == 404
    shallow = api.post(BATCH, batch(execution("shallow", **{where: nested(20)})))
    assert shallow.status_code == 200
    assert api.get("/api/executions/shallow").json[where if where == "metadata" else "extra"] is not None


def test_json_nested_past_the_parsers_limit_is_malformed(api):
    resp = api.post(BATCH, data=b'{"executions":' + b"[" * 2000 + b"]" * 2000 + b"}",
                    headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json["error"]["code"] == "malformed_json"


def test_invalid_utf8_is_malformed_json(api):
    body = orjson.dumps(batch(execution("utf"))).replace(b'"utf"', b'"ut\xff"')
    resp = api.post(BATCH, data=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json["error"]["code"] == "malformed_json"
    assert api.get("/api/executions").json["total"] == 0


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                   "application/x-ndjson", "application/xml"])
def test_a_body_of_another_content_type_is_415(api, ctype):
    resp = api.post(BATCH, data=orjson.dumps(batch(execution("ct"))), headers={"Content-Type": ctype})
    assert resp.status_code == 415 and "application/json" in resp.json["error"]["message"]


def test_a_huge_log_field_is_kept_up_to_the_limit_and_marked(api, app):
    limit = app.extensions["chronos"].settings.chronos_max_log_bytes
    resp = api.post(BATCH, batch(execution("huge", stdout="x" * (limit * 3) + "END")))
    assert resp.status_code == 200
    doc = api.get("/api/executions/huge").json
    assert len(doc["stdout"].encode()) <= limit and doc["stdout"].endswith("xEND")  # the tail is kept
    assert doc["truncated"] == {"stdout": True}
