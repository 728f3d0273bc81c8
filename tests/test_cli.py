"""The chronos command's administration verbs, run against the test Redis."""
from __future__ import annotations

import pytest

from chronos.cli import main
from chronos.store import users


@pytest.fixture
def env(monkeypatch, app_config, r):
    monkeypatch.setenv("REDIS_URL", app_config["REDIS_URL"])
    return r


def test_users_create_and_keys_lifecycle(env, capsys, client):
    assert main(["users", "create", "ops@example.com", "--role", "viewer", "--password", "long-enough"]) == 0
    assert "created viewer ops@example.com" in capsys.readouterr().out
    assert main(["users", "create", "ops@example.com", "--password", "long-enough"]) == 1

    assert main(["keys", "create", "ops@example.com", "--scopes", "read"]) == 0
    secret = capsys.readouterr().out.splitlines()[0]
    assert secret.startswith("chr_")
    assert client.get("/api/jobs", headers={"x-api-key": secret}).status_code == 200

    key = users.lookup_key(env, secret)
    assert main(["keys", "list", "ops@example.com"]) == 0
    assert key.id in capsys.readouterr().out
    assert main(["keys", "revoke", key.id]) == 0
    assert client.get("/api/jobs", headers={"x-api-key": secret}).status_code == 401


def test_bad_input_is_reported_without_a_traceback(env, capsys):
    assert main(["users", "create", "x@example.com", "--password", "short"]) == 2
    assert main(["keys", "create", "nobody@example.com"]) == 1
    assert main(["keys", "revoke", "k_missing"]) == 1
    err = capsys.readouterr().err
    assert "at least 8" in err and "no user" in err and "no key" in err


def test_an_unreachable_redis_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    assert main(["users", "list"]) == 1
    assert "cannot reach Redis" in capsys.readouterr().err


def test_ingest_queue_shows_and_requeues_dead_letters(env, capsys):
    from chronos import keys
    from chronos.store import ingest_queue

    ingest_queue.ensure_group(env)
    env.xadd(keys.ingest_dead(), {"owner": "u_1", "at": 1, "events": b'[{"execId":"e"}]', "error": "KeyError: 'jobId'"})
    assert main(["ingest-queue"]) == 0
    assert "off in this environment (CHRONOS_INGEST_QUEUE): 0 batch(es) waiting" in capsys.readouterr().out
    assert main(["ingest-queue", "dead"]) == 0
    assert "u_1  1 execution(s)  KeyError: 'jobId'" in capsys.readouterr().out
    assert main(["ingest-queue", "requeue"]) == 0
    assert "put 1 dead-lettered" in capsys.readouterr().out
    assert env.xlen(keys.ingest_dead()) == 0 and env.xlen(keys.ingest_queue()) == 1
    assert main(["ingest-queue", "dead"]) == 0
    assert capsys.readouterr().out == "no dead-lettered batches\n"
