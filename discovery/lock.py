"""One process per run directory: an advisory lock on RUN/.lock (fcntl.flock, stdlib).

Measured before this existed: two concurrent `mpo search --resume` of one run both ran and wrote duplicate
log lines. flock is held by the open file, so the kernel releases it when its process ends in any way
(kill -9 included): a lock left behind by a killed process is stale by construction and the next process
takes it, with no pid-liveness guess. The file keeps the holder's pid, host and start time, read only to
name the holder in the refusal.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

LOCK = ".lock"


class RunLocked(FileExistsError):
    """Another live process holds the run directory."""


class RunLock:
    """`acquire()` takes RUN/.lock or raises RunLocked naming the holder; `release()` (idempotent) lets go."""

    def __init__(self, run_dir: Path | str) -> None:
        self.path = Path(run_dir) / LOCK
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "RunLock":
        if self._fd is not None:
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(fd)
            os.close(fd)
            raise RunLocked(f"{self.path.parent}: in use by {holder}; wait for it to finish or stop it "
                            "(one process per run directory)") from None
        except OSError:
            os.close(fd)
            raise
        # ours now: record who holds it (for the refusal message of a second process)
        info = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                           "since": time.strftime("%Y-%m-%d %H:%M:%S")}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, info + b"\n", 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)  # no stale holder named once released
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _describe(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        return f"process {info['pid']} on {info['host']} (since {info['since']})"
    except (ValueError, KeyError, TypeError):
        return "another process"
