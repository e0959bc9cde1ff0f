"""One writer per session file: an exclusive lock on ``<session>.lock`` held while it is open.

The operating system drops the lock when the process ends, however it ends, so a crashed
PneumoView never leaves a session locked. The lock file holds the pid of its owner, which the
second opener is told. ``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def lock_path(session: Path) -> Path:
    """The lock file of a session: ``<session>.lock`` next to it."""
    return session.with_name(session.name + ".lock")


class SessionLock:
    """An exclusive, non-blocking lock of a session; :meth:`release` (or exit) frees it."""

    def __init__(self, fd: int, path: Path) -> None:
        self._fd: int | None = fd
        self.path = path

    @classmethod
    def acquire(cls, session: Path) -> SessionLock | int:
        """Take the lock; the other owner's pid (0 when unknown) when it is held.

        Raises
        ------
        OSError
            The lock file cannot be created (e.g. a read-only folder).
        """
        path = lock_path(session)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if not _try_lock(fd):
                return _read_pid(fd)
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        except BaseException:
            os.close(fd)
            raise
        return cls(fd, path)

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            _unlock(fd)
        except OSError:
            pass  # closing the descriptor frees it anyway
        os.close(fd)


def _read_pid(fd: int) -> int:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 32).decode("ascii", "replace").strip()
    finally:
        os.close(fd)
    return int(text) if text.isdigit() else 0


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            # Byte 4096 (past the pid) so the owner can still rewrite the pid at byte 0.
            os.lseek(fd, 4096, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 4096, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
