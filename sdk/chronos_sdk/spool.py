"""A durable on-disk queue for records the server could not take.

Records are JSON objects written as lines to append-only segment files
(``<ns-time>-<pid>-<rand>.jsonl``) and fsync'd before ``append`` returns. Each
process writes only its own segments and holds an exclusive ``flock`` on the one
it has open, so a replaying process never deletes a segment somebody is still
writing. A line cut short by a crash does not parse and is skipped.

Replay goes through segments oldest first and lines in order. Progress is kept
in a ``<segment>.ack`` file (the byte offset sent so far) written only after the
server answered 2xx, so every record is delivered at least once; a segment is
deleted when all of it was acknowledged.
"""
from __future__ import annotations

import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import IO, Any, Callable, List, Optional, Tuple

from .utils import logger

try:  # POSIX only; elsewhere one process per spool directory is assumed.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

SUFFIX = ".jsonl"


def _lock(fh: IO[Any], blocking: bool = False) -> bool:
    if fcntl is None:
        return True
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        return True
    except OSError:
        return False


class Spool:
    """Append-only, fsync'd JSON-lines spool in one directory.

    ``max_bytes`` caps the whole directory: past it :meth:`append` refuses new
    records (returns 0) rather than filling the disk.
    """

    def __init__(self, path: "os.PathLike[str] | str", *, max_bytes: int = 64 * 1024 * 1024,
                 segment_bytes: int = 1024 * 1024) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self._lock = threading.RLock()
        self._fh: Optional[IO[bytes]] = None
        self._seg: Optional[Path] = None
        self._pid = os.getpid()

    # -- writing ---------------------------------------------------------------
    def append(self, records: List[dict]) -> int:
        """Write ``records`` durably; the number written (0 when the spool is full)."""
        if not records:
            return 0
        data = b"".join(json.dumps(r, separators=(",", ":"), default=str).encode() + b"\n"
                        for r in records)
        with self._lock:
            self._check_fork()
            if self.size() + len(data) > self.max_bytes:
                logger.debug("spool %s is full; %d record(s) not written", self.path, len(records))
                return 0
            fh = self._segment(len(data))
            try:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            except OSError:
                # A half-written tail must not be glued to the next record: start a new segment.
                self._close_segment()
                raise
        return len(records)

    def _segment(self, incoming: int) -> IO[bytes]:
        if self._fh is not None and self._seg is not None:
            try:
                if self._seg.stat().st_size + incoming <= self.segment_bytes:
                    return self._fh
            except OSError:
                pass
            self._close_segment()
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(3)}{SUFFIX}"
        self._seg = self.path / name
        self._fh = open(self._seg, "ab")
        _lock(self._fh, blocking=True)
        self._fsync_dir()
        return self._fh

    def _close_segment(self) -> None:
        fh, self._fh, self._seg = self._fh, None, None
        if fh is not None:
            try:
                fh.close()  # also releases the flock
            except OSError:
                pass

    def _fsync_dir(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def _check_fork(self) -> None:
        if self._pid != os.getpid():
            self.reset_after_fork()

    def reset_after_fork(self) -> None:
        """Forget the parent's open segment (the parent keeps writing it)."""
        self._lock = threading.RLock()
        self._fh = None
        self._seg = None
        self._pid = os.getpid()

    def close(self) -> None:
        with self._lock:
            self._close_segment()

    # -- reading ---------------------------------------------------------------
    def segments(self) -> List[Path]:
        """Segment files, oldest first."""
        try:
            return sorted(p for p in self.path.iterdir() if p.name.endswith(SUFFIX))
        except OSError:
            return []

    def has_pending(self) -> bool:
        return bool(self.segments())

    def size(self) -> int:
        total = 0
        for p in self.segments():
            try:
                total += p.stat().st_size
            except OSError:
                pass
        return total

    def pending(self) -> List[dict]:
        """Every record not yet acknowledged, oldest first (read-only; for inspection and tests)."""
        out: List[dict] = []
        for seg in self.segments():
            out.extend(rec for rec, _ in _read(seg, _ack_offset(seg)))
        return out

    def replay(self, send: Callable[[List[dict]], Any], batch_size: int = 100) -> int:
        """Send pending records in order through ``send`` in batches of ``batch_size``.

        ``send`` must raise when the server did not take the batch; replay then
        stops and re-raises, keeping the unsent records. Returns how many were sent.
        Segments another live process is writing are left for later.
        """
        sent = 0
        with self._lock:
            self._check_fork()
            self._close_segment()  # so our own segment can be replayed and new records go to a new one
        # Not holding self._lock while sending: appends from other threads must not wait on
        # the network. They go to a fresh segment, locked by its writer, which replay skips.
        guard = self._replay_guard()
        if guard is None:
            return 0  # another replay (this process or another) is running right now
        try:
            for seg in self.segments():
                sent += self._replay_segment(seg, send, batch_size)
        finally:
            guard.close()
        return sent

    def _replay_guard(self) -> Optional[IO[Any]]:
        try:
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
            fh = open(self.path / ".replay.lock", "a")
        except OSError:
            return None
        if not _lock(fh):
            fh.close()
            return None
        return fh

    def _replay_segment(self, seg: Path, send: Callable[[List[dict]], Any], batch_size: int) -> int:
        try:
            fh = open(seg, "rb")
        except OSError:
            return 0
        sent = 0
        try:
            if not _lock(fh):
                return 0  # a live process still appends to it
            entries = _read(seg, _ack_offset(seg))
            for i in range(0, len(entries), batch_size):
                chunk = entries[i:i + batch_size]
                send([rec for rec, _ in chunk])
                sent += len(chunk)
                _write_ack(seg, chunk[-1][1])
            _remove(seg)
        finally:
            fh.close()
        return sent


def _ack_path(seg: Path) -> Path:
    return seg.with_name(seg.name + ".ack")


def _ack_offset(seg: Path) -> int:
    try:
        return int(_ack_path(seg).read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def _write_ack(seg: Path, offset: int) -> None:
    ack, tmp = _ack_path(seg), seg.with_name(seg.name + ".ack.tmp")
    with open(tmp, "w") as fh:
        fh.write(str(offset))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, ack)


def _remove(seg: Path) -> None:
    for p in (seg, _ack_path(seg)):
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def _read(seg: Path, offset: int) -> List[Tuple[dict, int]]:
    """(record, end offset) for every complete, parseable line after ``offset``."""
    try:
        with open(seg, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except OSError:
        return []
    out: List[Tuple[dict, int]] = []
    pos = offset
    for raw in data.split(b"\n")[:-1]:  # the last piece has no newline: empty or torn
        pos += len(raw) + 1
        try:
            rec = json.loads(raw.decode("utf-8"))
        except ValueError:
            logger.debug("skipping a damaged line in %s", seg)
            continue
        if isinstance(rec, dict):
            out.append((rec, pos))
    return out
