"""POST /api/executions/{execId}/explain against a stand-in OpenAI-compatible chat API on 127.0.0.1."""
from __future__ import annotations

import dataclasses
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from chronos.insights import llm
from tests.conftest import Api
from tests.helpers import batch, execution

STACK = ('Traceback (most recent call last):\n  File "/app/etl.py", line 12, in load\n    rows = fetch()\n'
         "TimeoutError: read timed out")


class StandIn:
    """A chat-completions server: records each request, answers what ``reply`` says."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.reply: tuple[int, Any] = (200, {"model": "stand-in-1", "usage": {"total_tokens": 42},
                                             "choices": [{"message": {"role": "assistant",
                                                                      "content": "The database read timed out."}}]})
        self.delay = threading.Event()  # set: hold the answer until released (for the timeout test)
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                outer.requests.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                       "body": json.loads(self.rfile.read(length) or b"{}")})
                if outer.delay.is_set():
                    outer.release.wait(10)
                status, body = outer.reply
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    s = StandIn()
    thread = threading.Thread(target=s.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield s
    finally:
        s.release.set()
        s.server.shutdown()
        s.server.server_close()


@pytest.fixture
def llm_on(app, stand_in) -> Iterator[StandIn]:
    """The session app's settings with the LLM pointed at the stand-in, restored afterwards."""
    state = app.extensions["chronos"]
    saved = state.settings
    state.settings = dataclasses.replace(saved, chronos_llm_url=stand_in.url, chronos_llm_api_key="sk-test",
                                         chronos_llm_model="test-model")
    try:
        yield stand_in
    finally:
        state.settings = saved


def seed(api) -> None:
    api.post("/api/ingest/executions/batch", batch(
        execution("bad", "etl", "failed", errorType="TimeoutError", errorMessage="read timed out after 30s",
                  errorStack=STACK, codeSnippet="rows = fetch()", codeLanguage="python", stdout="secret=hunter2"),
        execution("good", "etl", "success")))


def test_it_explains_a_failure_with_the_chat_api(api, llm_on):
    seed(api)
    resp = api.post("/api/executions/bad/explain")
    assert resp.status_code == 200, resp.json
    assert resp.json["explanation"] == "The database read timed out." and resp.json["model"] == "stand-in-1"
    assert resp.json["cached"] is False
    (sent,) = llm_on.requests
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer sk-test"
    assert sent["body"]["model"] == "test-model"
    user = sent["body"]["messages"][-1]["content"]
    assert "TimeoutError" in user and "read timed out after 30s" in user and "etl.py" in user
    assert "rows = fetch()" in user and "hunter2" not in user


def test_an_answer_is_cached_until_refreshed(api, llm_on):
    seed(api)
    api.post("/api/executions/bad/explain")
    again = api.post("/api/executions/bad/explain").json
    assert again["cached"] is True and len(llm_on.requests) == 1
    assert api.post("/api/executions/bad/explain?refresh=1").json["cached"] is False
    assert len(llm_on.requests) == 2


def test_it_answers_409_when_the_llm_is_not_configured(api):
    seed(api)
    resp = api.post("/api/executions/bad/explain")
    assert resp.status_code == 409 and resp.json["error"]["code"] == "llm_disabled"


def test_a_run_without_an_error_has_nothing_to_explain(api, llm_on):
    seed(api)
    resp = api.post("/api/executions/good/explain")
    assert resp.status_code == 409 and resp.json["error"]["code"] == "nothing_to_explain"
    assert llm_on.requests == []


@pytest.mark.parametrize("reply", [(500, {"error": "overloaded"}), (200, "not json"), (200, {"choices": []}),
                                   (302, {})])
def test_upstream_failures_are_502(api, llm_on, reply):
    seed(api)
    llm_on.reply = reply
    resp = api.post("/api/executions/bad/explain")
    assert resp.status_code == 502 and resp.json["error"]["code"] == "llm_upstream_error"


def test_a_refused_url_is_never_contacted(api, app, llm_on):
    seed(api)
    state = app.extensions["chronos"]
    state.settings = dataclasses.replace(state.settings, chronos_llm_url="http://169.254.169.254/v1")
    resp = api.post("/api/executions/bad/explain")
    assert resp.status_code == 409 and resp.json["error"]["code"] == "llm_refused"


def test_a_slow_answer_times_out(r, stand_in, app):
    settings = dataclasses.replace(app.extensions["chronos"].settings, chronos_llm_url=stand_in.url,
                                   chronos_llm_api_key="k")
    stand_in.delay.set()
    doc = {"owner": "o", "execId": "x", "status": "failed", "errorMessage": "boom"}
    with pytest.raises(llm.LlmUpstreamError, match="in time"):
        llm.explain(r, settings, doc, timeout=(2.0, 0.2))
    stand_in.release.set()


def test_another_users_key_cannot_explain_the_execution(api, llm_on, make_user):
    seed(api)
    _bob, key = make_user("bob@example.com")
    assert Api(api.client, key).post("/api/executions/bad/explain").status_code == 404
    assert llm_on.requests == []
