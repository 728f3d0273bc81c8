"""``chronos exec``: run any command and report it as one execution of a job.

    chronos-exec --job nightly-backup --schedule "0 2 * * *" -- /usr/local/bin/backup.sh --full

stdin is passed through; stdout and stderr are copied to the terminal as they
arrive while their last ``--tail-bytes`` bytes are kept for the report. The
command's exit code becomes the wrapper's exit code (128+N when killed by
signal N). Reporting problems never change what the command does: if the
server is away the events go to the spool and are sent later.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from typing import IO, Any, Dict, List, Optional, Sequence, Tuple

from .capture import TailBuffer
from .client import ChronosClient
from .run import JobSpec, Run
from .utils import capture_internal_exceptions

DEFAULT_TAIL = 65536


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chronos exec",
        description="Run a command and report it to Chronos as an execution of a job.",
        epilog="Put the command after --. Environment: CHRONOS_API_KEY, CHRONOS_ENDPOINT.",
    )
    p.add_argument("--job", required=True, help="job id to report the run under")
    p.add_argument("--schedule", help="cron expression; registers the job with it")
    p.add_argument("--name", help="job name; registers the job with it")
    p.add_argument("--tail-bytes", type=int, default=DEFAULT_TAIL, metavar="N",
                   help=f"keep the last N bytes of stdout and of stderr (default {DEFAULT_TAIL})")
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="terminate the command after this long and report status timeout")
    p.add_argument("--label", action="append", default=[], metavar="KEY=VALUE",
                   help="add a label (repeatable)")
    p.add_argument("--endpoint", help="server URL (default $CHRONOS_ENDPOINT or http://127.0.0.1:8050)")
    p.add_argument("--api-key", help="API key (default $CHRONOS_API_KEY)")
    p.add_argument("--app-id", help="application id (default $CHRONOS_APP_ID)")
    p.add_argument("--flush-timeout", type=float, default=5.0, metavar="SECONDS",
                   help="longest wait for delivery after the command ends (default 5)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="the command and its arguments")
    return p


def _split(argv: Sequence[str]) -> Tuple[List[str], List[str]]:
    argv = list(argv)
    if argv and argv[0] == "exec":  # forwarded as "chronos exec ..."
        argv = argv[1:]
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def exec_main(argv: Optional[Sequence[str]] = None, *, client: Optional[ChronosClient] = None) -> int:
    """Run ``chronos exec [options] -- command args...``; returns the command's exit code.

    ``client`` (for tests and embedding) is used instead of one built from the options.
    Returns 2 for bad usage, 127 when the command is not found, 126 when it cannot run.
    """
    parser = build_parser()
    opts, command = _split(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(opts)
    except SystemExit as exc:
        return int(exc.code or 0)
    command = command or [c for c in args.command if c != "--"]
    if not command:
        parser.print_usage(sys.stderr)
        print("chronos exec: no command given (put it after --)", file=sys.stderr)
        return 2
    tail = max(256, args.tail_bytes)
    owns = client is None
    if client is None:
        try:
            client = ChronosClient(args.api_key, endpoint=args.endpoint, app_id=args.app_id,
                                   max_log_bytes=tail)
        except Exception as exc:  # noqa: BLE001 - bad reporting config must not stop the command
            print(f"chronos exec: not reporting this run: {exc}", file=sys.stderr)
    with capture_internal_exceptions():
        if client is not None and (args.schedule or args.name):
            client.register_job(JobSpec(args.job, name=args.name, schedule=args.schedule))
    run = Run(client, args.job, labels=_labels(args.label), capture_output=False, max_log_bytes=tail)
    run.start()
    outcome = run_command(command, tail, args.timeout)
    run.finish(status=outcome["status"], exit_code=outcome["exitCode"],
               error_message=outcome.get("errorMessage"), stdout=outcome["stdout"],
               stderr=outcome["stderr"], cpu_time_ms=outcome.get("cpuTimeMs"),
               peak_memory=outcome.get("peakMemoryKb"),
               extra={"errorType": outcome.get("errorType"), "metadata": {"command": command}})
    if client is not None:
        with capture_internal_exceptions():
            if owns:
                client.close(timeout=args.flush_timeout)
            else:
                client.flush(args.flush_timeout)
    return int(outcome["exitCode"])


def _labels(items: List[str]) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        if key:
            out[key] = value
    return out


def _pump(src: IO[bytes], dst: Any, buf: TailBuffer) -> None:
    binary = getattr(dst, "buffer", None)
    fd = src.fileno()
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        buf.write(chunk)
        try:
            if binary is not None:
                binary.write(chunk)
                binary.flush()
            else:
                dst.write(chunk.decode("utf-8", "replace"))
                dst.flush()
        except (OSError, ValueError):
            pass  # the terminal went away; keep draining so the command does not block


def run_command(command: List[str], tail_bytes: int, timeout: Optional[float] = None) -> Dict[str, Any]:
    """Run ``command`` with output teed; the report fields (status, exitCode, stdout, stderr...)."""
    out, err = TailBuffer(tail_bytes), TailBuffer(tail_bytes)
    try:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as exc:
        code = 127 if isinstance(exc, FileNotFoundError) else 126
        message = f"cannot run {command[0]!r}: {exc.strerror or exc}"
        print(f"chronos exec: {message}", file=sys.stderr)
        return {"status": "failed", "exitCode": code, "errorMessage": message, "stdout": "",
                "stderr": message, "errorType": "CommandNotFound" if code == 127 else "CommandNotExecutable"}
    pumps = [threading.Thread(target=_pump, args=(proc.stdout, sys.stdout, out), daemon=True),
             threading.Thread(target=_pump, args=(proc.stderr, sys.stderr, err), daemon=True)]
    for t in pumps:
        t.start()
    restore = _forward_signals(proc)
    try:
        returncode, usage, timed_out = _wait(proc, timeout)
    finally:
        restore()
    for t in pumps:
        t.join(2.0)  # a grandchild may keep the pipe open; do not wait for it forever
    result: Dict[str, Any] = {"stdout": out.getvalue(), "stderr": err.getvalue(), **usage}
    if timed_out:
        result.update(status="timeout", exitCode=124, errorType="Timeout",
                      errorMessage=f"timed out after {timeout:g}s")
    elif returncode == 0:
        result.update(status="success", exitCode=0)
    elif returncode < 0:
        sig = -returncode
        name = _signal_name(sig)
        cancelled = sig in (signal.SIGINT, signal.SIGTERM)
        result.update(status="cancelled" if cancelled else "failed", exitCode=128 + sig,
                      errorType="Signal", errorMessage=f"killed by signal {name}")
    else:
        result.update(status="failed", exitCode=returncode, errorType="NonZeroExit",
                      errorMessage=f"exit status {returncode}")
    return result


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)


def _wait(proc: "subprocess.Popen[bytes]", timeout: Optional[float]) -> Tuple[int, Dict[str, Any], bool]:
    box: Dict[str, Any] = {}

    def waiter() -> None:
        if hasattr(os, "wait4"):
            _, status, ru = os.wait4(proc.pid, 0)  # the rusage of this child alone
            proc.returncode = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") \
                else (-(status & 0x7F) if status & 0x7F else status >> 8)
            box["usage"] = {"cpuTimeMs": int(round((ru.ru_utime + ru.ru_stime) * 1000)),
                            "peakMemoryKb": int(ru.ru_maxrss // 1024 if sys.platform == "darwin"
                                                else ru.ru_maxrss)}
        else:  # pragma: no cover - Windows
            proc.wait()

    thread = threading.Thread(target=waiter, daemon=True)
    thread.start()
    thread.join(timeout)
    timed_out = thread.is_alive()
    if timed_out:
        proc.terminate()
        thread.join(5.0)
        if thread.is_alive():
            proc.kill()
            thread.join()
    return int(proc.returncode if proc.returncode is not None else -9), box.get("usage", {}), timed_out


def _forward_signals(proc: "subprocess.Popen[bytes]") -> Any:
    """Ignore Ctrl-C here (the terminal sends it to the command too) and pass SIGTERM on."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    saved = {}
    try:
        saved[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)
        if hasattr(signal, "SIGTERM"):
            saved[signal.SIGTERM] = signal.signal(signal.SIGTERM, lambda s, f: proc.send_signal(s))
    except (ValueError, OSError):
        pass

    def restore() -> None:
        for sig, handler in saved.items():
            signal.signal(sig, handler)

    return restore


def main() -> None:
    """Console-script entry point of ``chronos-exec``."""
    sys.exit(exec_main(sys.argv[1:]))


if __name__ == "__main__":  # pragma: no cover
    main()
