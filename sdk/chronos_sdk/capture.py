"""What a run records about itself: teed stdout/stderr, the failing code, resources.

Output capture installs a :class:`TeeStream` proxy on ``sys.stdout`` and
``sys.stderr`` while at least one capture is active, and removes it when the
last one ends. Everything written still reaches the real stream; a copy goes to
the captures active in the *writing* context (a ``ContextVar``), so runs in
different threads, or different asyncio tasks, each see only their own output.
Output written straight to file descriptor 1/2 (C code, child processes) is not seen.
"""
from __future__ import annotations

import contextvars
import linecache
import os
import site
import sys
import sysconfig
import threading
import time
import traceback
from collections import deque
from typing import Any, Deque, Iterable, List, Optional, Tuple

_active: "contextvars.ContextVar[Tuple[OutputCapture, ...]]" = contextvars.ContextVar(
    "chronos_sdk_captures", default=()
)
_install_lock = threading.Lock()
_install_count = 0
STREAMS = ("stdout", "stderr")


def tail_text(text: Optional[str], max_bytes: int) -> Optional[str]:
    """``text`` when it fits in ``max_bytes`` UTF-8 bytes, else a marker and its last bytes."""
    if text is None:
        return None
    data = text.encode("utf-8", "replace")
    if len(data) <= max_bytes:
        return text
    return _tail(data, len(data), max_bytes)


def _tail(data: bytes, total: int, max_bytes: int) -> str:
    """The end of ``data`` in at most ``max_bytes``, led by a marker saying how much was cut."""
    marker = f"[... {total - max_bytes} bytes truncated ...]\n"
    if len(marker) * 2 > max_bytes:
        marker = ""  # too small a budget to spend on the marker
    keep = max(0, max_bytes - len(marker.encode()))
    return marker + data[len(data) - keep:].decode("utf-8", "ignore")


class TailBuffer:
    """Keeps (about) the last ``max_bytes`` bytes of the text written to it. Thread-safe."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.total = 0
        self._chunks: Deque[bytes] = deque()
        self._size = 0
        self._lock = threading.Lock()

    def write(self, data: "str | bytes") -> None:
        raw = data.encode("utf-8", "replace") if isinstance(data, str) else bytes(data)
        if not raw:
            return
        with self._lock:
            self.total += len(raw)
            self._chunks.append(raw)
            self._size += len(raw)
            while self._chunks and self._size - len(self._chunks[0]) >= self.max_bytes:
                self._size -= len(self._chunks.popleft())

    def getvalue(self) -> str:
        """The captured text, with a truncation marker in front when older output was dropped."""
        with self._lock:
            data = b"".join(self._chunks)
        if self.total <= self.max_bytes:
            return data.decode("utf-8", "replace")
        return _tail(data, self.total, self.max_bytes)


class TeeStream:
    """Proxy for a text stream that copies writes to the captures of the writing context."""

    def __init__(self, stream: Any, name: str) -> None:
        self._stream = stream
        self._name = name

    def write(self, s: str) -> int:
        for cap in _active.get():
            try:
                cap.feed(self._name, s)
            except Exception:  # noqa: BLE001 - capture must never break the program's output
                pass
        return self._stream.write(s)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _renew_lock_after_fork() -> None:
    global _install_lock
    _install_lock = threading.Lock()


def _install() -> None:
    global _install_count
    from .worker import on_fork_in_child

    on_fork_in_child(_renew_lock_after_fork)
    with _install_lock:
        _install_count += 1
        if _install_count == 1:
            for name in STREAMS:
                cur = getattr(sys, name, None)
                if cur is not None and not isinstance(cur, TeeStream):
                    setattr(sys, name, TeeStream(cur, name))


def _uninstall() -> None:
    global _install_count
    with _install_lock:
        _install_count = max(0, _install_count - 1)
        if _install_count == 0:
            for name in STREAMS:
                cur = getattr(sys, name, None)
                # Somebody else replaced the stream meanwhile: leave theirs alone.
                if isinstance(cur, TeeStream):
                    setattr(sys, name, cur._stream)


class OutputCapture:
    """Captures the stdout/stderr written in the current context while entered."""

    def __init__(self, max_bytes: int = 65536) -> None:
        self.stdout = TailBuffer(max_bytes)
        self.stderr = TailBuffer(max_bytes)
        self._token: Optional[contextvars.Token] = None
        self._entered = False

    def feed(self, name: str, text: str) -> None:
        (self.stdout if name == "stdout" else self.stderr).write(text)

    def __enter__(self) -> "OutputCapture":
        _install()
        self._entered = True
        self._token = _active.set(_active.get() + (self,))
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self._entered:
            return
        self._entered = False
        try:
            if self._token is not None:
                _active.reset(self._token)
        except ValueError:  # exited in another context than entered
            _active.set(tuple(c for c in _active.get() if c is not self))
        self._token = None
        _uninstall()


# -- the failing code ------------------------------------------------------------
_SDK_DIR = os.path.dirname(os.path.abspath(__file__))


def _library_dirs() -> List[str]:
    dirs = set()
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if paths.get(key):
            dirs.add(os.path.abspath(paths[key]))
    try:
        dirs.update(os.path.abspath(p) for p in site.getsitepackages())
    except AttributeError:  # some virtualenv builds lack it
        pass
    if getattr(site, "ENABLE_USER_SITE", False) and site.USER_SITE:
        dirs.add(os.path.abspath(site.USER_SITE))
    return sorted(dirs)


_LIB_DIRS = _library_dirs()


def is_user_file(filename: Optional[str]) -> bool:
    """True for a source file of the program itself: not the SDK, the stdlib or an installed package."""
    if not filename or filename.startswith("<"):
        return False
    path = os.path.abspath(filename)
    if path == _SDK_DIR or path.startswith(_SDK_DIR + os.sep):
        return False
    parts = path.split(os.sep)
    if "site-packages" in parts or "dist-packages" in parts:
        return False
    return not any(path.startswith(d + os.sep) for d in _LIB_DIRS)


def code_snippet(exc: BaseException, before: int = 40, after: int = 80
                 ) -> Optional[Tuple[str, str, int, int]]:
    """``(code, filename, error_line, first_line)`` around the failing line of the deepest
    user-code frame of ``exc``'s traceback, or None when no user frame has source."""
    return snippet_for_frames(list(traceback.walk_tb(exc.__traceback__)), before, after)


def snippet_for_frames(frames: List[Tuple[Any, int]], before: int = 40, after: int = 80
                       ) -> Optional[Tuple[str, str, int, int]]:
    """Like :func:`code_snippet` for ``(frame, lineno)`` pairs, outermost first."""
    for frame, lineno in reversed(frames):
        filename = frame.f_code.co_filename
        if lineno is None or not is_user_file(filename):
            continue
        lines = linecache.getlines(filename, frame.f_globals)
        if not lines:
            continue
        first = max(1, lineno - before)
        last = min(len(lines), lineno + after)
        return "".join(lines[first - 1:last]), filename, lineno, first
    return None


def describe_exception(exc: BaseException) -> Tuple[str, str, str]:
    """``(errorType, errorMessage, errorStack)`` for an exception."""
    etype = type(exc).__name__
    message = str(exc) or etype
    tb = exc.__traceback__
    # Leave out the SDK's own wrapper frames at the top: they are noise to the reader.
    while tb is not None and tb.tb_next is not None and _is_sdk_file(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    stack = "".join(traceback.format_exception(type(exc), exc, tb))
    return etype, message, stack


def _is_sdk_file(filename: str) -> bool:
    path = os.path.abspath(filename)
    return path.startswith(_SDK_DIR + os.sep)


# -- resources ---------------------------------------------------------------------
def cpu_time() -> float:
    """CPU seconds used by the calling thread (process-wide where threads are not measured)."""
    try:
        return time.thread_time()
    except (AttributeError, OSError):  # pragma: no cover - platforms without thread clocks
        return time.process_time()


def peak_memory_kb(children: bool = False) -> Optional[int]:
    """Peak resident memory in KiB (of this process, or of its waited-for children)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    rss = resource.getrusage(who).ru_maxrss
    return int(rss // 1024) if sys.platform == "darwin" else int(rss)  # macOS reports bytes
