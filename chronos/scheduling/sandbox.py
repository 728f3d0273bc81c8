"""``python -m chronos.scheduling.sandbox CPU_S MEM_MB FILE_MB -- argv...``: apply resource limits, then exec.

Shell jobs start through this trampoline rather than a ``preexec_fn`` (which is unsafe in a threaded
process): it sets RLIMIT_CPU (seconds of CPU), RLIMIT_AS (address space) and RLIMIT_FSIZE (largest file
written, output files included), closes nothing else and replaces itself with the command. A limit of 0
leaves that resource unlimited.
"""
from __future__ import annotations

import os
import resource
import sys


def _limit(which: int, value: int) -> None:
    if value > 0:
        resource.setrlimit(which, (value, value))


def main(argv: list[str]) -> int:
    try:
        cpu, mem_mb, file_mb = (int(x) for x in argv[:3])
        sep = argv.index("--")
    except (ValueError, IndexError):
        print("usage: sandbox CPU_S MEM_MB FILE_MB -- argv...", file=sys.stderr)
        return 2
    cmd = argv[sep + 1:]
    if not cmd:
        print("sandbox: no command", file=sys.stderr)
        return 2
    _limit(resource.RLIMIT_CPU, cpu)
    _limit(resource.RLIMIT_AS, mem_mb * 1024 * 1024)
    _limit(resource.RLIMIT_FSIZE, file_mb * 1024 * 1024)
    try:
        os.execvp(cmd[0], cmd)
    except OSError as exc:
        print(f"sandbox: cannot run {cmd[0]!r}: {exc.strerror}", file=sys.stderr)
        return 127
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
