"""Two users' keys never see each other's jobs or executions; admins see all only when they ask."""
from __future__ import annotations

from tests.conftest import Api
from tests.helpers import batch, execution


def two_tenants(api, make_user):
    _a, key_a = make_user("alice@example.com")
    _b, key_b = make_user("bob@example.com")
    alice, bob = Api(api.client, key_a), Api(api.client, key_b)
    for who, name in ((alice, "alice"), (bob, "bob")):
        who.post("/api/ingest/jobs/register", {"jobs": [{"id": "shared-id", "name": f"{name} job", "tags": [name]}]})
        who.post("/api/ingest/executions/batch", batch(
            execution("same-exec", "shared-id", "failed", errorMessage=f"{name} secret failure"),
            execution(f"{name}-only", f"{name}-job")))
    return alice, bob


def test_reads_are_scoped_to_the_keys_owner(api, make_user):
    alice, bob = two_tenants(api, make_user)
    assert alice.get("/api/jobs/shared-id").json["name"] == "alice job"
    assert bob.get("/api/jobs/shared-id").json["name"] == "bob job"
    assert sorted(j["id"] for j in alice.get("/api/jobs").json["items"]) == ["alice-job", "shared-id"]
    assert alice.get("/api/jobs/bob-job").status_code == 404
    assert alice.get("/api/executions/bob-only").status_code == 404
    assert alice.get("/api/executions/same-exec").json["errorMessage"] == "alice secret failure"
    assert alice.get("/api/executions?q=bob").json["total"] == 0
    assert alice.get("/api/executions?q=secret").json["total"] == 1
    assert alice.get("/api/jobs?tag=bob").json["total"] == 0
    assert alice.get("/api/jobs/shared-id/executions").json["total"] == 1
    assert alice.get("/api/analytics/summary").json["runs"] == 2
    assert alice.get("/api/info").json["counts"] == {"jobs": 2, "executions": 2}


def test_a_member_cannot_widen_the_scope(api, make_user):
    alice, _bob = two_tenants(api, make_user)
    assert alice.get("/api/jobs?owner=all").json["total"] == 2
    assert alice.get("/api/executions?owner=all").json["total"] == 2


def test_an_admin_sees_all_only_when_asking(api, make_user):
    two_tenants(api, make_user)
    assert api.get("/api/jobs").json["total"] == 0
    assert api.get("/api/jobs?owner=all").json["total"] == 4
    assert api.get("/api/executions?owner=all").json["total"] == 4
    assert api.get("/api/analytics/summary?owner=all").json["runs"] == 4


def test_query_syntax_is_searched_as_text(api):
    api.post("/api/ingest/executions/batch", batch(
        execution("e1", "job-a", "failed", errorMessage="plain failure"),
        execution("e2", "job-b", "failed", errorMessage='weird @jobId:{*} -x | "y" message')))
    hostile = '@jobId:{*} -x | "y"'
    found = api.get("/api/executions", query_string={"q": hostile}).json
    assert [e["execId"] for e in found["items"]] == ["e2"]
    assert api.get("/api/jobs", query_string={"q": hostile}).json["total"] == 0
    assert api.get("/api/jobs", query_string={"tag": "} | @owner:{*"}).json["total"] == 0
    assert api.get("/api/executions", query_string={"jobId": "*"}).json["total"] == 0
