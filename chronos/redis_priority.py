"""Process priority of the embedded Redis: the ``nice`` value of the server's main thread, and a lower
priority (``CHILD_NICE``) for its fork children (AOF rewrite, RediSearch GC) while it runs.

This module imports only the standard library. The process manager itself is
:class:`chronos.redis_server.EmbeddedRedis`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import threading

log = logging.getLogger(__name__)

CHILD_NICE = 10  # the server's fork children (AOF rewrite, RediSearch GC) when the server thread is prioritised
CHILD_WATCH_SECONDS = 0.2

__all__ = ["CHILD_NICE", "CHILD_WATCH_SECONDS", "raise_priority", "watch_children"]


def watch_children(proc: subprocess.Popen[bytes], stop: threading.Event) -> None:
    """While the server runs and ``stop`` is not set, put its fork children (AOF rewrite, RediSearch GC) at
    ``CHILD_NICE``: they copy gigabytes and may take their time, while every request waits on the server
    thread."""
    path = f"/proc/{proc.pid}/task/{proc.pid}/children"
    while proc.poll() is None and not stop.wait(CHILD_WATCH_SECONDS):
        try:
            with open(path) as fh:
                children = [int(p) for p in fh.read().split()]
        except OSError:
            return
        for child in children:
            with contextlib.suppress(OSError):
                if os.getpriority(os.PRIO_PROCESS, child) != CHILD_NICE:
                    os.setpriority(os.PRIO_PROCESS, child, CHILD_NICE)


def raise_priority(proc: subprocess.Popen[bytes] | None, nice: int, stop: threading.Event) -> None:
    """Give the server's main thread the ``nice`` value asked for, and its fork children ``CHILD_NICE`` until
    the server exits or ``stop`` is set. Does nothing when ``nice`` is 0 or there is no process.

    Every request waits on this one thread, so on a machine it shares with the web workers it should not
    queue behind them; a child rewriting the AOF should queue behind everything. A negative value needs root
    (or CAP_SYS_NICE); without it the server keeps the default priority and a log line says so."""
    if not nice or proc is None:
        return
    stop.clear()
    threading.Thread(target=watch_children, args=(proc, stop), name="redis-children", daemon=True).start()
    try:
        os.setpriority(os.PRIO_PROCESS, proc.pid, nice)
    except OSError as exc:
        log.info("embedded Redis keeps the default priority (nice %d not allowed: %s; it needs root or "
                 "CAP_SYS_NICE, CHRONOS_REDIS_NICE=0 asks for nothing)", nice, exc)
