"""The SDK's commands and examples against the real server over real HTTP: ``chronos exec``, Healthchecks-style
pings, and the files in ``examples/``.

Uses the session app served by the ``live_server`` fixture (threaded werkzeug) and the bootstrap admin
key. Nothing is mocked: every event goes through ``requests`` to the ingestion API and into Redis Stack,
and every assertion reads it back through the public read API.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import pytest
import requests

from chronos.timeutil import parse_instant
from tests.conftest import ADMIN_KEY
from tests.live_sdk import HEADERS, ROOT, VENV_BIN, execution, get, wait_until

# ---- chronos exec --------------------------------------------------------------------------------------

def test_chronos_exec_reports_a_failing_command_and_keeps_its_exit_code(live_server, tmp_path):
    env = dict(os.environ, CHRONOS_ENDPOINT=live_server, CHRONOS_API_KEY=ADMIN_KEY,
               CHRONOS_SPOOL_DIR=str(tmp_path / "spool"))
    proc = subprocess.run([str(VENV_BIN / "chronos"), "exec", "--job", "wrapped", "--", "sh", "-c", "echo hi; exit 3"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    assert proc.stdout == "hi\n"  # still printed

    items = wait_until(lambda: get(live_server, "/api/executions", jobId="wrapped")["items"])
    assert len(items) == 1
    doc = execution(live_server, items[0]["execId"])
    assert (doc["status"], doc["exitCode"], doc["errorMessage"]) == ("failed", 3, "exit status 3")
    assert "hi" in doc["stdout"] and doc["stdout"] == "hi\n" and "stderr" not in doc
    assert doc["metadata"]["command"] == ["sh", "-c", "echo hi; exit 3"]
    assert doc["host"] == socket.gethostname() and isinstance(doc["pid"], int)
    assert doc["durationMs"] >= 0 and isinstance(doc["cpuTimeMs"], int) and doc["errorType"] == "NonZeroExit"
    assert get(live_server, "/api/analytics/summary", jobId="wrapped")["failures"] == 1
    assert not any((tmp_path / "spool").rglob("*.jsonl"))  # delivered, nothing left behind


def test_chronos_exec_passes_stderr_through_and_reports_it(live_server, tmp_path):
    env = dict(os.environ, CHRONOS_ENDPOINT=live_server, CHRONOS_API_KEY=ADMIN_KEY,
               CHRONOS_SPOOL_DIR=str(tmp_path / "spool"))
    proc = subprocess.run([str(VENV_BIN / "chronos"), "exec", "--job", "wrapped-err", "--timeout", "30", "--",
                           "sh", "-c", "echo out; echo oops >&2; exit 0"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "out\n", "oops\n")
    items = wait_until(lambda: get(live_server, "/api/executions", jobId="wrapped-err")["items"])
    doc = execution(live_server, items[0]["execId"])
    assert (doc["status"], doc["stdout"], doc["stderr"]) == ("success", "out\n", "oops\n")


def test_chronos_exec_success_with_schedule_and_labels(live_server, tmp_path):
    env = dict(os.environ, CHRONOS_ENDPOINT=live_server, CHRONOS_API_KEY=ADMIN_KEY,
               CHRONOS_SPOOL_DIR=str(tmp_path / "spool"))
    proc = subprocess.run([str(VENV_BIN / "chronos-exec"), "--job", "wrapped-ok", "--schedule", "0 3 * * *",
                           "--name", "Wrapped OK", "--label", "env=test", "--", "sh", "-c", "echo done"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (0, "done\n")
    items = wait_until(lambda: get(live_server, "/api/executions", jobId="wrapped-ok")["items"])
    doc = execution(live_server, items[0]["execId"])
    assert (doc["status"], doc["exitCode"], doc["labels"]) == ("success", 0, {"env": "test"})
    job = get(live_server, "/api/jobs/wrapped-ok")
    assert (job["schedule"], job["name"], job["registered"]) == ("0 3 * * *", "Wrapped OK", "yes")


# ---- Healthchecks-style pings over real HTTP ----------------------------------------------------------

def test_ping_start_then_exit_zero_over_http_records_one_successful_run(live_server):
    requests.post(live_server + "/api/ingest/jobs/register", headers=HEADERS, timeout=10,
                  json={"jobs": [{"id": "curl-backup", "name": "Backup", "schedule": "0 3 * * *"}]}
                  ).raise_for_status()
    ping_url = get(live_server, "/api/jobs/curl-backup")["pingUrl"]
    assert ping_url.startswith(live_server + "/ping/")

    start = requests.get(ping_url + "/start", params={"rid": "R"}, timeout=10)
    assert (start.status_code, start.text) == (200, "OK")
    time.sleep(0.05)
    done = requests.post(ping_url + "/0", params={"rid": "R"}, data="backup finished\n", timeout=10)
    assert (done.status_code, done.text) == (200, "OK") and int(done.headers["Ping-Body-Limit"]) > 0

    items = get(live_server, "/api/executions", jobId="curl-backup")["items"]
    assert len(items) == 1
    doc = execution(live_server, items[0]["execId"])
    assert (doc["status"], doc["exitCode"], doc["stdout"]) == ("success", 0, "backup finished\n")
    # The run spans the start ping to the exit ping: its duration is exactly the gap between the two stamps.
    assert doc["durationMs"] == parse_instant(doc["finishedAt"]) - parse_instant(doc["startedAt"]) > 0
    assert get(live_server, "/api/analytics/summary", jobId="curl-backup")["runs"] == 1

    # A failing exit status through HEAD-less curl style GET, and an unknown uuid.
    assert requests.get(ping_url + "/2", timeout=10).status_code == 200
    assert get(live_server, "/api/jobs/curl-backup")["lastStatus"] == "failed"
    bogus = live_server + "/ping/00000000-0000-0000-0000-000000000000"
    assert requests.get(bogus, timeout=10).status_code == 404


# ---- examples/runner_app.py ------------------------------------------------------------------------

def test_examples_runner_app_runs_against_a_live_server(live_server, tmp_path):
    env = dict(os.environ, CHRONOS_ENDPOINT=live_server, CHRONOS_API_KEY=ADMIN_KEY,
               CHRONOS_SPOOL_DIR=str(tmp_path / "spool"), PYTHONUNBUFFERED="1")
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "runner_app.py"), "--seconds", "3",
                           "--run-now", "example-report"],
                          env=env, capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "example-report: success" in proc.stdout and "alive at" in proc.stdout
    assert "dropped 0" in proc.stdout and "spooled 0" in proc.stdout
    jobs = {j["id"]: j for j in get(live_server, "/api/jobs", limit=50)["items"]}
    assert {"example-heartbeat", "example-cleanup", "example-report"} <= set(jobs)
    assert all(jobs[j]["registered"] == "yes" and jobs[j]["schedule"] for j in
               ("example-heartbeat", "example-cleanup", "example-report"))
    beats = wait_until(lambda: get(live_server, "/api/executions", jobId="example-heartbeat")["items"])
    assert any(b["status"] == "success" for b in beats)
    assert {b["appId"] for b in beats} == {"runner-example"}
    reports = get(live_server, "/api/executions", jobId="example-report")["items"]
    assert len(reports) == 1
    report_doc = execution(live_server, reports[0]["execId"])
    assert report_doc["status"] == "success" and report_doc["stdout"].startswith("report: {")
    assert set(report_doc["metadata"]) == {"orders", "refunds"}
    assert get(live_server, "/api/jobs/example-report")["timezone"] == "Europe/Paris"
    assert not any((tmp_path / "spool").rglob("*.jsonl"))


def test_examples_runner_app_exits_1_when_the_server_refuses_the_key(live_server, tmp_path):
    env = dict(os.environ, CHRONOS_ENDPOINT=live_server, CHRONOS_API_KEY="chr_wrong_key_00000000000000000",
               CHRONOS_SPOOL_DIR=str(tmp_path / "spool"))
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "runner_app.py"), "--seconds", "1"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "could not start" in proc.stderr
    assert "APIError" in proc.stderr and "401" in proc.stderr


@pytest.mark.skipif(not shutil.which("curl"), reason="needs curl")
def test_examples_ping_sh_reports_a_command_through_curl(live_server, tmp_path):
    requests.post(live_server + "/api/ingest/jobs/register", headers=HEADERS, timeout=10,
                  json={"jobs": [{"id": "curl-job", "name": "Curl job", "schedule": "0 5 * * *"}]}
                  ).raise_for_status()
    ping_url = get(live_server, "/api/jobs/curl-job")["pingUrl"]
    script = str(ROOT / "examples" / "ping.sh")
    env = dict(os.environ, PING_URL=ping_url)
    ok = subprocess.run(["sh", script, "sh", "-c", "echo copied 3 files"], env=env, capture_output=True,
                        text=True, timeout=60)
    assert (ok.returncode, ok.stdout) == (0, "copied 3 files\n"), ok.stderr
    bad = subprocess.run(["sh", script, "sh", "-c", "echo disk full >&2; exit 4"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert (bad.returncode, bad.stdout) == (4, "disk full\n"), bad.stderr
    plain = subprocess.run(["sh", script], env=env, capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0, plain.stderr

    items = get(live_server, "/api/executions", jobId="curl-job")["items"]
    assert len(items) == 3
    docs = {d.get("stdout"): d for d in (execution(live_server, i["execId"]) for i in items)}
    assert docs["copied 3 files\n"]["status"] == "success" and docs["copied 3 files\n"]["exitCode"] == 0
    assert docs["disk full\n"]["status"] == "failed" and docs["disk full\n"]["exitCode"] == 4
    assert docs["copied 3 files\n"]["durationMs"] >= 0 and docs[None]["status"] == "success"
    assert get(live_server, "/api/analytics/summary", jobId="curl-job")["runs"] == 3

    away = dict(env, PING_URL="http://127.0.0.1:9/ping/00000000-0000-0000-0000-000000000000")
    offline = subprocess.run(["sh", script, "sh", "-c", "exit 0"], env=away, capture_output=True, text=True,
                             timeout=120)
    assert offline.returncode == 0 and "ping /start" in offline.stderr  # a dead server never fails the job


def test_examples_crontab_lines_parse_as_cron_and_as_chronos_exec():
    import shlex

    from chronos_sdk.cli import _split, build_parser
    from chronos_sdk.schedule import validate_cron

    lines = [ln for ln in (ROOT / "examples" / "crontab.txt").read_text().splitlines()
             if ln.strip() and not ln.lstrip().startswith("#") and "=" not in ln.split()[0]]
    assert len(lines) >= 3
    for line in lines:
        fields = line.split(None, 5)
        validate_cron(" ".join(fields[:5]))
        argv = shlex.split(fields[5])
        assert argv[0] in ("chronos", "chronos-exec"), line
        opts, command = _split(argv[1:])
        args = build_parser().parse_args(opts)
        assert args.job and command, line
        if args.schedule:
            assert args.schedule == " ".join(fields[:5]), line  # registered schedule == crontab's
