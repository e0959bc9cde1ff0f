"""Output files: checked before any work, written atomically, no temp files left behind.

* :func:`check_output_file` / :func:`check_output_dir` run before a command starts working, so
  that a read-only or missing folder, or an existing file of the wrong kind, is one clear line
  (the commands turn :class:`OutputError` into exit code 2) instead of lost work at the end.
* :func:`atomic_open` writes a temporary file beside the target, fsyncs it and renames it over
  the target: a crash or a full disk never leaves a half-written output behind. Temp names are
  short (``.pv-<pid>-<random>.tmp``) whatever the target's name, so a 250-character output
  name works on file systems that allow 255.
* :func:`remove_stale_temp_files` deletes the temp files of earlier runs that were killed
  (their process is gone), including the ``.<name>.XXXXXXXX.tmp`` files of older versions.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from detector.errors import PneumoViewError

TEMP_PREFIX = ".pv-"
TEMP_SUFFIX = ".tmp"
_TEMP_RE = re.compile(r"^\.pv-(\d+)-[A-Za-z0-9_]+\.tmp$")
# Older versions named temp files ``.<target name>.<8 mkstemp characters>.tmp``.
_LEGACY_TEMP_RE = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


class OutputError(PneumoViewError, ValueError):
    """An output path cannot be written; ``str(err)`` is ``"<file name>: <reason>"``."""


def _probe_writable(folder: Path, path_for_error: str | os.PathLike[str]) -> None:
    """Create and delete a temp file in ``folder`` (the only test that holds for root and for
    read-only mounts alike)."""
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=TEMP_SUFFIX, dir=folder
        )
    except OSError as exc:
        raise OutputError(
            path_for_error, f"folder {folder} is not writable ({exc.strerror or exc})"
        ) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def check_output_file(path: str | os.PathLike[str]) -> Path:
    """Check that ``path`` can be (re)written as a regular file; returns it as a ``Path``.

    Raises
    ------
    OutputError
        ``path`` is a folder or another non-regular file (FIFO, device), its folder does not
        exist or is not a folder, or the folder is not writable.
    """
    target = Path(path)
    try:
        mode = target.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None
    except OSError as exc:
        raise OutputError(path, f"cannot be checked ({exc.strerror or exc})") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise OutputError(path, "is a folder; give a file name")
    if mode is not None and not stat.S_ISREG(mode):
        raise OutputError(path, "exists and is not a regular file (a FIFO, device or socket)")
    parent = target.parent
    if not parent.exists():
        raise OutputError(path, f"folder {parent} does not exist")
    if not parent.is_dir():
        raise OutputError(path, f"{parent} is not a folder")
    _probe_writable(parent, path)
    return target


def check_output_dir(path: str | os.PathLike[str], *, create: bool = True) -> Path:
    """Check (and with ``create``, make) an output folder whose parent exists.

    Raises
    ------
    OutputError
        ``path`` is an existing file, its parent folder does not exist, or it is not writable.
    """
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise OutputError(path, "exists and is not a folder")
    if not folder.exists():
        parent = folder.parent
        if not parent.is_dir():
            raise OutputError(path, f"folder {parent} does not exist")
        if not create:
            raise OutputError(path, "folder does not exist")
        try:
            folder.mkdir()
        except FileExistsError:
            pass
        except OSError as exc:
            raise OutputError(path, f"cannot create the folder ({exc.strerror or exc})") from None
    _probe_writable(folder, path)
    return folder


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's live process
    return True


def remove_stale_temp_files(folder: str | os.PathLike[str]) -> int:
    """Delete temp files left in ``folder`` by killed runs; returns how many were removed.

    A ``.pv-<pid>-*.tmp`` file is removed only when process ``pid`` no longer runs, so the
    temp file of a run still writing into the same folder is kept.
    """
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        name = entry.name
        if not name.endswith(TEMP_SUFFIX) or not name.startswith("."):
            continue
        match = _TEMP_RE.match(name)
        if match is not None:
            if _pid_alive(int(match.group(1))):
                continue
        elif not _LEGACY_TEMP_RE.match(name):
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed += 1
        except OSError:
            continue
    return removed


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    if "w" not in mode:
        raise ValueError("atomic_open is for writing")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=TEMP_SUFFIX, dir=target.parent
    )
    # mkstemp makes the file owner-only (0600); outputs follow the umask like any other file.
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    with atomic_open(path, "w", encoding=encoding, newline="") as fh:
        fh.write(text)
