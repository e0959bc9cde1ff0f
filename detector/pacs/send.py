"""Send DICOM files and folders to a PACS (STOW-RS or C-STORE) and count what went.

The files are untrusted input: each header is read before anything is sent, and a file that
is not DICOM (or lacks the SOP class, instance UID or transfer syntax) is counted as failed with
its reason instead of stopping the others.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pydicom
from pydicom.dataset import Dataset

from detector.imaging.read import quiet_pydicom


class StoreClient(Protocol):
    """What :func:`send_files` needs of a protocol client."""

    label: str

    def store(
        self,
        files: list[tuple[Path, Dataset]],
        cancel: threading.Event,
        on_file: Callable[[Path, str | None], None],
    ) -> None: ...


@dataclass
class SendReport:
    """What a send did: ``sent`` files and ``(path, reason)`` for each one that failed."""

    sent: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    cancelled: bool = False


def collect_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files given, and every file under folders given (sorted; hidden files skipped)."""
    found: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.extend(Path(root) / n for n in sorted(names) if not n.startswith("."))
        else:
            found.append(path)
    return found


def read_send_header(path: Path) -> Dataset:
    """The header of a file to send.

    Raises
    ------
    ValueError
        Not DICOM, or no SOP class / instance UID / transfer syntax.
    """
    quiet_pydicom()
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except pydicom.errors.InvalidDicomError:
        raise ValueError("not a DICOM file") from None
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror or exc})") from None
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types on damaged files
        raise ValueError(f"damaged DICOM file ({type(exc).__name__})") from None
    meta = getattr(ds, "file_meta", None)
    for keyword, where in (("SOPClassUID", ds), ("SOPInstanceUID", ds)):
        if keyword not in where:
            raise ValueError(f"no {keyword}")
    if meta is None or "TransferSyntaxUID" not in meta:
        raise ValueError("no TransferSyntaxUID in the file meta")
    return ds


def send_files(
    client: StoreClient,
    paths: Iterable[str | os.PathLike[str]],
    *,
    cancel: threading.Event | None = None,
    on_file: Callable[[Path, str | None], None] | None = None,
) -> SendReport:
    """Send every DICOM file among ``paths`` (files and folders).

    Raises
    ------
    PacsError
        The server cannot be reached or the connection was lost; ``report`` so far is lost
        with it, but what the server already took stays there.
    """
    cancel = cancel or threading.Event()
    report = SendReport()

    def _done(path: Path, reason: str | None) -> None:
        if reason is None:
            report.sent.append(path)
        else:
            report.failed.append((path, reason))
        if on_file is not None:
            on_file(path, reason)

    readable: list[tuple[Path, Dataset]] = []
    for path in collect_files(paths):
        try:
            readable.append((path, read_send_header(path)))
        except ValueError as exc:
            _done(path, str(exc))
    if readable:
        client.store(readable, cancel, _done)
    report.cancelled = cancel.is_set()
    return report
