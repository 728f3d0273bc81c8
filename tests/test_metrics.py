"""GET /metrics: Prometheus text that prometheus_client parses, scoped to the key's owner."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Api
from tests.helpers import batch, execution


def families(resp):
    assert resp.status_code == 200
    assert resp.mimetype == "text/plain"
    return {f.name: f for f in text_string_to_metric_families(resp.get_data(as_text=True))}


def test_metrics_parse_and_carry_job_counters(api):
    api.post("/api/ingest/jobs/register", {"jobs": [{"id": "etl", "name": 'ETL "orders"\nnightly'}]})
    api.post("/api/ingest/executions/batch", batch(
        execution("1", "etl", "success", duration_ms=2000), execution("2", "etl", "failed", duration_ms=500)))
    got = families(api.get("/metrics"))
    runs = {s.labels["job"]: s.value for s in got["chronos_job_runs"].samples if s.name.endswith("_total")}
    assert runs == {"etl": 2.0}
    fails = [s for s in got["chronos_job_failures"].samples if s.name.endswith("_total")]
    assert fails[0].value == 1.0
    assert fails[0].labels["name"] == 'ETL "orders"\nnightly'
    assert got["chronos_jobs"].samples[0].value == 1.0


def test_metrics_need_a_key_and_are_owner_scoped(api, client, make_user):
    assert client.get("/metrics").status_code == 401
    api.post("/api/ingest/executions/batch", batch(execution("a", "admin-job")))
    _uid, key = make_user("scraper@example.com", scopes=("read",))
    resp = client.get("/metrics", headers={"Authorization": f"Bearer {key}"})
    assert "admin-job" not in resp.get_data(as_text=True)
    assert families(resp)["chronos_jobs"].samples[0].value == 0.0
    assert Api(client, key).get("/metrics").status_code == 200
