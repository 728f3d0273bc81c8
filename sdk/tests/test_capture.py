from __future__ import annotations

import sys
import threading

import pytest

import chronos_sdk
from chronos_sdk import capture
from chronos_sdk.capture import OutputCapture, TailBuffer, TeeStream, code_snippet, is_user_file, tail_text


def test_output_is_teed_and_captured_per_thread(make_client, transport, capsys):
    client = make_client(transport)
    barrier = threading.Barrier(2)

    def job(name):
        with client.monitor(f"job-{name}"):
            for i in range(3):
                barrier.wait(5)  # make the two threads write in turns
                print(f"{name} line {i}")
                sys.stderr.write(f"{name} err {i}\n")

    threads = [threading.Thread(target=job, args=(n,)) for n in ("alpha", "beta")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    client.flush(5)
    finals = {e["jobId"]: e for e in transport.executions if e["status"] != "running"}
    assert finals["job-alpha"]["stdout"] == "".join(f"alpha line {i}\n" for i in range(3))
    assert finals["job-beta"]["stdout"] == "".join(f"beta line {i}\n" for i in range(3))
    assert finals["job-beta"]["stderr"] == "".join(f"beta err {i}\n" for i in range(3))
    real = capsys.readouterr()
    assert "alpha line 2" in real.out and "beta line 2" in real.out  # still printed for real
    assert "alpha err 0" in real.err


def test_the_proxy_is_removed_when_no_run_is_active(client):
    with client.monitor("j"):
        assert isinstance(sys.stdout, TeeStream)
    assert not isinstance(sys.stdout, TeeStream) and not isinstance(sys.stderr, TeeStream)


def test_output_of_other_threads_is_not_captured(client, transport):
    with client.monitor("mine"):
        t = threading.Thread(target=lambda: print("from elsewhere"))
        t.start()
        t.join()
        print("from me")
    client.flush(5)
    assert transport.executions[-1]["stdout"] == "from me\n"


def test_logs_keep_the_tail_within_max_log_bytes(make_client, transport):
    client = make_client(transport, max_log_bytes=300)
    with client.monitor("chatty"):
        for i in range(100):
            print(f"line {i:03d}")
    client.flush(5)
    out = transport.executions[-1]["stdout"]
    assert len(out.encode()) <= 300
    assert out.endswith("line 099\n") and "line 000" not in out
    assert out.startswith("[... ") and "truncated" in out


def test_tail_helpers_keep_the_end():
    buf = TailBuffer(10)
    for chunk in ("aaaa", "bbbb", "cccc", "dddd"):
        buf.write(chunk)
    assert buf.total == 16 and buf.getvalue().endswith("d")
    assert tail_text("short", 100) == "short"
    assert tail_text("x" * 1000 + "END", 100).endswith("END")
    assert len(tail_text("é" * 500, 100).encode()) <= 100


def failing_user_function():
    value = {"a": 1}
    return value["missing"]  # <- the raising line


def test_the_snippet_contains_the_raising_line_of_user_code():
    try:
        failing_user_function()
    except KeyError as exc:
        code, filename, line, first = code_snippet(exc)
    assert filename == __file__
    assert 'return value["missing"]  # <- the raising line' in code
    assert first == max(1, line - 40)
    assert len(code.splitlines()) <= 121


def test_the_snippet_skips_sdk_and_library_frames(client, transport):
    import json

    @client.monitor("parse")
    def parse():
        return json.loads("{not json")  # raised deep in the stdlib

    with pytest.raises(ValueError):
        parse()
    client.flush(5)
    event = transport.executions[-1]
    assert event["codeLanguage"] == "python"
    assert 'return json.loads("{not json")' in event["codeSnippet"]
    assert "class JSON" + "Decoder" not in event["codeSnippet"]  # not the json module's source
    assert capture._SDK_DIR not in event["errorStack"]  # the SDK's wrapper frames are left out
    assert not is_user_file(capture.__file__) and not is_user_file(json.__file__)
    assert not is_user_file(pytest.__file__) and is_user_file(__file__)


def test_nested_captures_both_see_the_output():
    with OutputCapture() as outer:
        with OutputCapture() as inner:
            print("both")
        print("outer only")
    assert inner.stdout.getvalue() == "both\n"
    assert outer.stdout.getvalue() == "both\nouter only\n"


def test_a_client_less_monitor_still_runs_the_code():
    assert chronos_sdk.get_client() is None

    @chronos_sdk.monitor("nobody-listens")
    def work():
        return 42

    assert work() == 42
