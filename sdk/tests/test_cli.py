from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from chronos_sdk import MemoryTransport, NetworkError
from chronos_sdk.cli import exec_main
from chronos_sdk.spool import Spool

SDK_ROOT = Path(__file__).resolve().parents[1]


def test_exec_returns_the_exit_code_and_captures_hi(make_client):
    transport = MemoryTransport()
    client = make_client(transport)
    assert exec_main(["--job", "j", "--", "sh", "-c", "echo hi; exit 3"], client=client) == 3
    client.flush(5)
    final = transport.executions[-1]
    assert (final["status"], final["exitCode"], final["stdout"]) == ("failed", 3, "hi\n")
    assert final["errorMessage"] == "exit status 3"


def test_exec_reports_the_exit_code_and_the_output(make_client, capfd):
    transport = MemoryTransport()
    client = make_client(transport)
    code = exec_main(["--job", "shell-job", "--", "sh", "-c", "echo hi; echo oops >&2; exit 3"],
                     client=client)
    assert code == 3
    assert client.flush(5)
    running, final = transport.executions
    assert running["status"] == "running" and running["execId"] == final["execId"]
    assert final["status"] == "failed" and final["exitCode"] == 3
    assert final["errorMessage"] == "exit status 3"
    assert "hi" in final["stdout"] and final["stderr"] == "oops\n"
    assert final["metadata"] == {"command": ["sh", "-c", "echo hi; echo oops >&2; exit 3"]}
    assert isinstance(final["durationMs"], int) and "cpuTimeMs" in final
    real = capfd.readouterr()
    assert "hi" in real.out and "oops" in real.err  # passed through to the terminal


def test_exec_success_registers_the_job_and_keeps_only_the_tail(make_client):
    transport = MemoryTransport()
    client = make_client(transport)
    code = exec_main(["exec", "--job", "seq", "--schedule", "*/5 * * * *", "--name", "Seq",
                      "--tail-bytes", "300", "--label", "team=ops", "--",
                      "sh", "-c", "seq 1 500"], client=client)
    assert code == 0
    client.flush(5)
    final = transport.executions[-1]
    assert final["status"] == "success" and final["exitCode"] == 0
    assert final["stdout"].endswith("499\n500\n") and len(final["stdout"].encode()) <= 300
    assert final["labels"] == {"team": "ops"}
    assert transport.jobs[0]["schedule"] == "*/5 * * * *" and transport.jobs[0]["name"] == "Seq"


def test_exec_reports_a_missing_command(make_client):
    transport = MemoryTransport()
    client = make_client(transport)
    assert exec_main(["--job", "j", "--", "no-such-command-xyz"], client=client) == 127
    client.flush(5)
    assert transport.executions[-1]["status"] == "failed"
    assert transport.executions[-1]["exitCode"] == 127


def test_exec_times_out_a_command(make_client):
    transport = MemoryTransport()
    client = make_client(transport)
    assert exec_main(["--job", "j", "--timeout", "0.3", "--", "sleep", "30"], client=client) == 124
    client.flush(5)
    assert transport.executions[-1]["status"] == "timeout"


def test_exec_without_a_command_is_a_usage_error(make_client):
    assert exec_main(["--job", "j"], client=make_client()) == 2
    assert exec_main([], client=make_client()) == 2


def test_exec_spools_when_the_server_is_away(make_client):
    client = make_client(MemoryTransport(handler=lambda req: NetworkError("down")), max_retries=0)
    assert exec_main(["--job", "offline", "--", "sh", "-c", "echo saved"], client=client) == 0
    client.close()
    records = Spool(client.spool.path).pending()
    assert [r["data"]["status"] for r in records] == ["running", "success"]
    assert records[1]["data"]["stdout"] == "saved\n"


def test_the_console_script_runs_as_a_program(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(SDK_ROOT),
           "CHRONOS_ENDPOINT": "http://127.0.0.1:9", "CHRONOS_API_KEY": "chr_x",
           "CHRONOS_SPOOL_DIR": str(tmp_path / "sp")}
    out = subprocess.run([sys.executable, "-m", "chronos_sdk.cli", "--job", "j", "--flush-timeout", "0.5",
                          "--", "sh", "-c", "echo from-child; exit 5"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 5
    assert "from-child" in out.stdout
    spooled = Spool(next((tmp_path / "sp").iterdir())).pending()
    assert spooled[-1]["data"]["exitCode"] == 5
