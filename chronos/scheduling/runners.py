"""Running one attempt of a server-side job: ``http``, ``shell`` or ``email``.

Each runner returns an ``Outcome`` and never raises for the job's own failures. The promises:

* http: target ``{method, url, headers, body, timeoutMs, expectStatus}``; the URL passes the outbound guard
  (``CHRONOS_OUTBOUND_ALLOW``, link-local and metadata always refused), redirects are not followed, success
  is the expected status (default any 2xx), the body is captured as stdout and the status as exitCode.
* shell: only when ``CHRONOS_ALLOW_SHELL=1``. target ``{command (argv list, or a string split like a shell
  would but run without one unless shell: true), env, cwd, timeoutMs}``. The command runs in its own
  process group with CPU / memory / file-size limits, a minimal environment (PATH, HOME, LANG plus the
  target's env — never the scheduler's secrets), output captured to files; at the timeout the whole
  group gets SIGTERM, then SIGKILL two seconds later, and the outcome is ``timeout``.
* email: target ``{to, subject, body}`` over the configured SMTP server.
"""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable

import requests

from chronos.config import Settings
from chronos.outbound import OutboundRefused, check_url
from chronos.scheduling.smtp import send_mail

OUTPUT_CAP = 64 * 1024
DEFAULT_TIMEOUT_MS = 30_000
KILL_GRACE_S = 2.0


@dataclass
class Outcome:
    status: str  # success | failed | timeout
    duration_ms: int = 0
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    error_message: str | None = None
    error_type: str | None = None
    retryable: bool = True

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "durationMs": self.duration_ms}
        for name, value in (("exitCode", self.exit_code), ("stdout", self.stdout), ("stderr", self.stderr),
                            ("errorMessage", self.error_message), ("errorType", self.error_type)):
            if value not in (None, ""):
                out[name] = value
        return out


def timeout_ms(target: dict[str, Any]) -> int:
    t = target.get("timeoutMs")
    return int(t) if isinstance(t, (int, float)) and t > 0 else DEFAULT_TIMEOUT_MS


def _expected(status: int, expect: Any) -> bool:
    if expect is None:
        return 200 <= status < 300
    if isinstance(expect, int):
        return status == expect
    return status in expect


def run_http(target: dict[str, Any], settings: Settings) -> Outcome:
    start = time.monotonic()
    url = target["url"]
    try:
        check_url(url, settings.chronos_outbound_allow)
    except OutboundRefused as exc:
        return Outcome("failed", error_message=str(exc), error_type="OutboundRefused", retryable=False)
    body = target.get("body")
    kw: dict[str, Any] = {"json": body} if isinstance(body, (dict, list)) else {"data": body}
    try:
        resp = requests.request(target.get("method", "GET").upper(), url, headers=target.get("headers") or {},
                                timeout=timeout_ms(target) / 1000, allow_redirects=False, **kw)
    except requests.Timeout:
        return Outcome("timeout", _ms(start), error_message=f"no answer within {timeout_ms(target)} ms",
                       error_type="Timeout")
    except requests.RequestException as exc:
        return Outcome("failed", _ms(start), error_message=str(exc)[:1000], error_type=type(exc).__name__)
    text = resp.content[:OUTPUT_CAP].decode("utf-8", "replace")
    if _expected(resp.status_code, target.get("expectStatus")):
        return Outcome("success", _ms(start), exit_code=resp.status_code, stdout=text)
    expect = target.get("expectStatus") or "2xx"
    return Outcome("failed", _ms(start), exit_code=resp.status_code, stdout=text,
                   error_message=f"HTTP {resp.status_code} (expected {expect})", error_type="HTTPStatus")


def _argv(target: dict[str, Any]) -> list[str]:
    cmd = target["command"]
    if target.get("shell"):
        return ["/bin/sh", "-c", cmd if isinstance(cmd, str) else shlex.join(cmd)]
    return list(cmd) if isinstance(cmd, list) else shlex.split(cmd)


def _env(target: dict[str, Any]) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
           "LANG": os.environ.get("LANG", "C.UTF-8")}
    env.update({str(k): str(v) for k, v in (target.get("env") or {}).items()})
    return env


def _tail(fh: Any) -> str:
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    fh.seek(max(0, size - OUTPUT_CAP))
    return fh.read().decode("utf-8", "replace")


def run_shell(target: dict[str, Any], settings: Settings) -> Outcome:
    if not settings.chronos_allow_shell:
        return Outcome("failed", error_message="shell jobs are disabled: set CHRONOS_ALLOW_SHELL=1 to allow them",
                       error_type="ShellDisabled", retryable=False)
    limits = [str(settings.chronos_shell_cpu_seconds), str(settings.chronos_shell_memory_mb),
              str(settings.chronos_shell_file_mb)]
    argv = [sys.executable, "-m", "chronos.scheduling.sandbox", *limits, "--", *_argv(target)]
    start = time.monotonic()
    limit_s = timeout_ms(target) / 1000
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=_env(target),
                                    cwd=target.get("cwd") or None, start_new_session=True)
        except OSError as exc:
            return Outcome("failed", error_message=f"cannot start: {exc}", error_type="SpawnError", retryable=False)
        timed_out = False
        try:
            code = proc.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            code = _kill_group(proc)
        result = Outcome("success", _ms(start), exit_code=code, stdout=_tail(out), stderr=_tail(err))
    if timed_out:
        result.status, result.error_type = "timeout", "Timeout"
        result.error_message = f"killed after {timeout_ms(target)} ms (process group terminated)"
    elif code != 0:
        result.status, result.error_type = "failed", "ExitCode"
        result.error_message = f"exit code {code}" if code >= 0 else f"killed by signal {-code}"
    return result


def _kill_group(proc: subprocess.Popen) -> int:
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            return proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    return proc.wait()


def run_email(target: dict[str, Any], settings: Settings) -> Outcome:
    start = time.monotonic()
    to = target["to"] if isinstance(target["to"], list) else [target["to"]]
    try:
        answer = send_mail(settings, to, target.get("subject", ""), target.get("body", ""),
                           timeout=timeout_ms(target) / 1000)
    except Exception as exc:  # noqa: BLE001 - SMTP errors come in many classes
        return Outcome("failed", _ms(start), error_message=str(exc)[:1000], error_type=type(exc).__name__)
    return Outcome("success", _ms(start), stdout=answer)


RUNNERS: dict[str, Callable[[dict[str, Any], Settings], Outcome]] = {
    "http": run_http, "shell": run_shell, "email": run_email,
}


def _ms(start: float) -> int:
    return int((time.monotonic() - start) * 1000)
