"""Status badges: owner-scoped URLs, public SVG and shields.io JSON at unguessable tokens."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from chronos.insights import badges
from tests.conftest import Api
from tests.helpers import batch, execution

EVIL = '<script>alert("x")</script> & \'co\''


def urls(api, **params) -> dict:
    resp = api.get("/api/badges", query_string=params)
    assert resp.status_code == 200, resp.json
    return resp.json


def path(url: str) -> str:
    return url[url.index("/api/badges/"):]


def test_a_job_badge_escapes_the_name_in_svg(api, client):
    api.post("/api/ingest/jobs/register", {"jobs": [{"id": "evil", "name": EVIL}]})
    api.post("/api/ingest/executions/batch", batch(execution("e1", "evil")))
    svg_url = urls(api, jobId="evil")["svg"]
    resp = client.get(path(svg_url))  # no key: public
    assert resp.status_code == 200 and resp.mimetype == "image/svg+xml"
    body = resp.get_data(as_text=True)
    assert "<script" not in body and "&lt;script&gt;" in body and "&amp;" in body and "&quot;" in body
    root = ET.fromstring(body)  # well-formed XML
    assert root.tag.endswith("svg")
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert EVIL in texts and "up" in texts
    assert resp.headers["Cache-Control"].startswith("no-cache")


def test_the_json_badge_follows_the_shields_endpoint_format(api, client):
    api.post("/api/ingest/jobs/register", {"jobs": [{"id": "etl", "name": "Nightly ETL"}]})
    json_url = urls(api, jobId="etl")["json"]
    assert client.get(path(json_url)).json == {"schemaVersion": 1, "label": "Nightly ETL", "message": "new",
                                               "color": "lightgrey"}
    api.post("/api/ingest/executions/batch", batch(execution("e1", "etl", "failed", errorMessage="boom")))
    assert client.get(path(json_url)).json["message"] == "failing"
    assert client.get(path(json_url)).json["color"] == "red"
    api.post("/api/ingest/executions/batch", batch(execution("e2", "etl", "success")))
    assert client.get(path(json_url)).json["color"] == "brightgreen"


def test_the_urls_are_stable_and_rotation_revokes_them(api, client):
    api.post("/api/ingest/executions/batch", batch(execution("e1", "etl")))
    first = urls(api, jobId="etl")
    assert urls(api, jobId="etl")["token"] == first["token"] and len(first["token"]) >= 32
    assert first["shields"].startswith("https://img.shields.io/endpoint?url=http")
    rotated = api.post("/api/badges/rotate", {"jobId": "etl"}).json
    assert rotated["token"] != first["token"]
    assert client.get(path(first["svg"])).status_code == 404
    assert client.get(path(rotated["svg"])).status_code == 200


def test_a_tag_badge_shows_the_worst_status_of_its_jobs(api, client):
    api.post("/api/ingest/jobs/register", {"jobs": [{"id": "a", "tags": ["billing"]},
                                                     {"id": "b", "tags": ["billing"]}]})
    api.post("/api/ingest/executions/batch", batch(execution("e1", "a"), execution("e2", "b", "failed")))
    body = client.get(path(urls(api, tag="billing")["json"])).json
    assert body["label"] == "billing" and body["message"] == "failing"
    assert api.get("/api/badges?tag=nobody").status_code == 404


def test_an_unknown_or_malformed_token_is_404(api, client):
    api.post("/api/ingest/executions/batch", batch(execution("e1", "etl")))
    token = urls(api, jobId="etl")["token"]
    for bad in ("A" * 32, "short", token[:-1] + ("A" if token[-1] != "A" else "B"), "..%2f..%2fetc"):
        assert client.get(f"/api/badges/{bad}.svg").status_code == 404
        assert client.get(f"/api/badges/{bad}.json").status_code == 404
    assert api.get("/api/badges").status_code == 400
    assert api.get("/api/badges?jobId=etl&tag=x").status_code == 400


def test_badges_are_isolated_between_owners(api, client, make_user):
    _a, key_a = make_user("alice@example.com")
    _b, key_b = make_user("bob@example.com")
    alice, bob = Api(api.client, key_a), Api(api.client, key_b)
    alice.post("/api/ingest/jobs/register", {"jobs": [{"id": "shared", "name": "alice job"},
                                                      {"id": "alice-only", "name": "secret"}]})
    bob.post("/api/ingest/jobs/register", {"jobs": [{"id": "shared", "name": "bob job"}]})
    a_url, b_url = urls(alice, jobId="shared"), urls(bob, jobId="shared")
    assert a_url["token"] != b_url["token"]
    assert client.get(path(a_url["json"])).json["label"] == "alice job"
    assert client.get(path(b_url["json"])).json["label"] == "bob job"
    assert bob.get("/api/badges?jobId=alice-only").status_code == 404
    assert bob.post("/api/badges/rotate", {"jobId": "alice-only"}).status_code == 404
    assert client.get("/api/badges", query_string={"jobId": "shared"}).status_code == 401


def test_the_svg_renderer_escapes_and_truncates_any_label():
    svg = badges.svg("x" * 200 + "<b>", "up")
    assert "<b>" not in svg and "…" in svg
    assert ET.fromstring(badges.svg("tab\tand\x01control", "late")) is not None


def test_the_badge_and_explanation_keys_are_exact():
    from chronos import keys

    assert keys.badge("tok") == "chr:badge:tok"
    assert keys.badge_token("u1", "job", "etl") == "chr:badgetok:u1:job:etl"
    assert keys.llm_explanation("u1", "e1") == "chr:explain:u1:e1"
