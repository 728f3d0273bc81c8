"""Server-side jobs run by the scheduler: http retries per strategy, shell limits and timeouts, email over
SMTP, no overlap, dependency chains. Every attempt is an execution recorded through the store."""
from __future__ import annotations

import dataclasses
import os

import orjson
import pytest

from chronos import keys
from chronos.scheduling import claims
from chronos.store import jobs as job_store
from chronos.timeutil import now_ms
from scheduler.core import Scheduler
from tests.test_scheduler_helpers import FakeClock, Receiver, SmtpServer, settings_of


@pytest.fixture
def env(app, r, client, make_user):
    owner, key = make_user("server@example.com")

    class Env:
        id = owner
        h = {"x-api-key": key}
        clock = FakeClock(now_ms() + 1000)

        def scheduler(self, **settings):
            s = Scheduler(r, dataclasses.replace(settings_of(app), **settings), clock=self.clock, workers=0)
            s.tick()
            return s

        def create(self, body, expect=201):
            resp = client.post("/api/jobs", json=body, headers=self.h)
            assert resp.status_code == expect, resp.json
            return resp.json

        def run(self, job_id):
            resp = client.post(f"/api/jobs/{job_id}/run", headers=self.h)
            assert resp.status_code == 202, resp.json
            return resp.json["triggerId"]

        def executions(self, job_id):
            items = client.get(f"/api/jobs/{job_id}/executions?limit=100", headers=self.h).json["items"]
            return sorted(items, key=lambda e: (e["startedAt"], e.get("attempt", 0)))

    return Env()


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def stored(r, key):
    return orjson.loads(r.execute_command("JSON.GET", key))


def settle(s, clock, *, step_ms=500, max_steps=400):
    """Tick (moving the clock) until no retry is queued and no execution event is waiting."""
    for _ in range(max_steps):
        clock.advance(step_ms)
        s.tick()
        if s.executor.next_retry() is None and not s.watcher.consume(clock.now):
            s.tick()
            return
    raise AssertionError("the scheduler did not settle")


@pytest.mark.parametrize("strategy,delays", [("immediate", [0, 0]), ("linear", [1000, 2000]),
                                             ("exponential", [1000, 2000, 4000])])
def test_an_http_job_answering_500_retries_per_strategy_and_records_every_attempt(env, r, strategy, delays):
    with Receiver(statuses=(500,), body=b"boom") as target:
        env.create({"id": "api-sync", "name": "API sync", "type": "http", "schedule": "@yearly",
                    "target": {"method": "POST", "url": target.url + "/sync", "body": {"full": True}},
                    "retry": {"strategy": strategy, "maxRetries": len(delays), "baseDelayMs": 1000}})
        s = env.scheduler()
        env.run("api-sync")
        settle(s, env.clock, step_ms=250)
    runs = env.executions("api-sync")
    assert [e["attempt"] for e in runs] == list(range(1, len(delays) + 2))
    assert {e["status"] for e in runs} == {"failed"}
    assert runs[0]["errorMessage"] == "HTTP 500 (expected 2xx)" and runs[0]["exitCode"] == 500
    assert len({e["triggerId"] for e in runs}) == 1
    # Each retry was queued its strategy's delay after the previous attempt finished.
    docs = [stored(r, keys.execution(env.id, e["execId"])) for e in runs]
    gaps = [docs[i + 1]["metadata"]["queuedFor"] - docs[i]["finishedAt"] for i in range(len(delays))]
    assert gaps == delays
    assert all(docs[i + 1]["startedAt"] >= docs[i + 1]["metadata"]["queuedFor"] for i in range(len(delays)))
    assert [q["method"] for q in target.requests] == ["POST"] * (len(delays) + 1)
    assert job_store.get(r, env.id, "api-sync")["state"] == "failing"


def test_a_job_that_succeeds_on_a_retry_ends_up(env, r):
    with Receiver(statuses=(503, 200)) as target:
        env.create({"id": "flaky", "name": "Flaky", "type": "http", "schedule": "@yearly",
                    "target": {"url": target.url}, "retry": {"strategy": "immediate", "maxRetries": 3}})
        s = env.scheduler()
        env.run("flaky")
        settle(s, env.clock)
    assert [e["status"] for e in env.executions("flaky")] == ["failed", "success"]
    assert job_store.get(r, env.id, "flaky")["lastStatus"] == "success"


def test_a_scheduled_http_job_runs_on_its_schedule(env, r):
    with Receiver() as target:
        env.create({"id": "tick", "name": "Tick", "type": "http", "schedule": "*/5 * * * * *",
                    "target": {"url": target.url + "/t", "expectStatus": [200, 204]}})
        s = env.scheduler()
        start = env.clock.now
        while env.clock.now < start + 20_000:
            env.clock.advance(1000)
            s.tick()
        settle(s, env.clock)
    runs = env.executions("tick")
    assert len(runs) == len(target.requests) in (4, 5)
    assert {e["status"] for e in runs} == {"success"}
    assert all(e["triggerId"].startswith("tick@") for e in runs)


def test_a_shell_job_is_killed_at_its_timeout_with_its_whole_process_group(env, r, tmp_path):
    pidfile = tmp_path / "child.pid"
    env.create({"id": "hang", "name": "Hang", "type": "shell", "schedule": "@yearly",
                "target": {"command": f"sleep 60 & echo $! > {pidfile}; echo started; wait", "shell": True,
                           "timeoutMs": 1500}, "retry": {"maxRetries": 0}})
    s = env.scheduler(chronos_allow_shell=True)
    env.run("hang")
    settle(s, env.clock)
    (run,) = env.executions("hang")
    assert run["status"] == "timeout" and "killed after 1500 ms" in run["errorMessage"]
    full = stored(r, keys.execution(env.id, run["execId"]))
    assert full["stdout"] == "started\n"
    child = int(pidfile.read_text())
    assert not alive(child)  # the background child went with the group
    assert job_store.get(r, env.id, "hang")["state"] == "timeout"


def test_shell_output_exit_code_limits_and_a_clean_environment(env, r, tmp_path):
    env.create({"id": "sh", "name": "Sh", "type": "shell", "schedule": "@yearly",
                "target": {"command": ["sh", "-c", "echo out; echo err >&2; env; exit 3"], "env": {"GREETING": "hi"},
                           "cwd": str(tmp_path)}})
    big = tmp_path / "big.bin"
    env.create({"id": "fat", "name": "Fat", "type": "shell", "schedule": "@yearly",
                "target": {"command": ["dd", "if=/dev/zero", f"of={big}", "bs=1M", "count=3"]}})
    s = env.scheduler(chronos_allow_shell=True, chronos_shell_file_mb=1)
    env.run("sh")
    env.run("fat")
    settle(s, env.clock)
    (run,) = env.executions("sh")
    full = stored(r, keys.execution(env.id, run["execId"]))
    assert run["status"] == "failed" and run["exitCode"] == 3 and full["stderr"] == "err\n"
    assert full["stdout"].startswith("out\n") and "GREETING=hi" in full["stdout"]
    assert "REDIS_URL" not in full["stdout"] and "CHRONOS_" not in full["stdout"]
    (fat,) = env.executions("fat")
    assert fat["status"] == "failed" and big.stat().st_size <= 1024 * 1024  # RLIMIT_FSIZE stopped it


def test_shell_jobs_are_refused_unless_allowed(env, r):
    env.create({"id": "nope", "name": "Nope", "type": "shell", "schedule": "@yearly",
                "target": {"command": "true"}, "retry": {"maxRetries": 3}})
    s = env.scheduler()
    env.run("nope")
    settle(s, env.clock)
    (run,) = env.executions("nope")  # not retried: it cannot succeed
    assert run["status"] == "failed" and "CHRONOS_ALLOW_SHELL" in run["errorMessage"]


def test_an_email_job_reaches_the_smtp_server(env, r):
    with SmtpServer() as smtp:
        env.create({"id": "mail", "name": "Mail", "type": "email", "schedule": "@yearly",
                    "target": {"to": ["team@example.com"], "subject": "Report", "body": "All good."}})
        s = env.scheduler(chronos_smtp_host="127.0.0.1", chronos_smtp_port=smtp.port)
        env.run("mail")
        settle(s, env.clock)
    (msg,) = smtp.messages
    assert msg["to"] == ["<team@example.com>"] and "Subject: Report" in msg["data"] and "All good." in msg["data"]
    assert env.executions("mail")[0]["status"] == "success"


def test_a_run_does_not_overlap_a_running_one(env, r):
    with Receiver() as target:
        env.create({"id": "solo", "name": "Solo", "type": "http", "schedule": "@yearly", "target": {"url": target.url}})
        s = env.scheduler()
        r.set(keys.sched_running(env.id, "solo"), "another-attempt", px=60_000)
        env.run("solo")
        settle(s, env.clock)
        assert target.requests == []
        assert claims.recent_fires(r, env.id, "solo")[0]["outcome"] == "skipped-overlap"
        r.delete(keys.sched_running(env.id, "solo"))
        env.run("solo")
        settle(s, env.clock)
    assert len(target.requests) == 1 and not r.exists(keys.sched_running(env.id, "solo"))


def test_a_dependency_chain_runs_in_order(env, r, client):
    with Receiver() as target:
        env.create({"id": "extract", "name": "Extract", "type": "http", "schedule": "@yearly",
                    "target": {"url": target.url + "/extract"}})
        env.create({"id": "transform", "name": "Transform", "type": "http", "dependsOn": ["extract"],
                    "target": {"url": target.url + "/transform"}})
        env.create({"id": "load", "name": "Load", "type": "http", "dependsOn": ["transform"],
                    "target": {"url": target.url + "/load"}})
        s = env.scheduler()
        env.run("extract")
        settle(s, env.clock)
    assert [q["path"] for q in target.requests] == ["/extract", "/transform", "/load"]
    assert env.executions("load")[0]["triggerId"].startswith("load@after:transform@")
    bad = client.put("/api/jobs/extract", headers=env.h, json={
        "name": "Extract", "type": "http", "schedule": "@yearly", "dependsOn": ["load"],
        "target": {"url": "http://127.0.0.1:9/x"}})
    assert bad.status_code == 400 and bad.json["error"]["code"] == "dependency_cycle"
    assert bad.json["error"]["message"] == "dependsOn: dependency cycle: extract → load → transform → extract"


def test_the_thread_pool_runs_attempts_concurrently_and_drains(env, r, app):
    with Receiver() as target:
        for i in range(4):
            env.create({"id": f"p{i}", "name": f"P{i}", "type": "http", "schedule": "@yearly",
                        "target": {"url": f"{target.url}/p{i}"}})
        s = Scheduler(r, settings_of(app), clock=env.clock, workers=2)
        s.tick()
        for i in range(4):
            env.run(f"p{i}")
        env.clock.advance(100)
        s.tick()
        s.drain()
        settle(s, env.clock)
        s.executor.shutdown()
    assert sorted(q["path"] for q in target.requests) == ["/p0", "/p1", "/p2", "/p3"]
    assert all(env.executions(f"p{i}")[0]["status"] == "success" for i in range(4))
