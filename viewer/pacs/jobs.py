"""The PACS window's background jobs as plain functions (no Qt, no widgets, no state).

:mod:`viewer.pacs.dialog` and :mod:`viewer.pacs.send_findings` run them in superqt workers.
A retrieve puts each study into its own folder of the cache (``<cache>/pacs/<StudyInstanceUID>``)
and reports what arrived through :class:`Arrivals`, which the GUI thread drains on a timer.
"""

from __future__ import annotations

import os
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path

from detector.errors import PneumoViewError
from detector.pacs.client import open_client
from detector.pacs.dicomweb import quiet_dicomweb
from detector.pacs.dimse import quiet_pynetdicom
from detector.pacs.errors import PacsError
from detector.pacs.query import StudyQuery, StudyResult, is_uid
from detector.pacs.retrieve import FolderSink, retrieve
from detector.pacs.send import SendReport, send_files
from detector.pacs.servers import Server

#: Sub-folder of the per-user cache folder that holds retrieved studies.
CACHE_SUBFOLDER = "pacs"


def quiet_network_logs() -> None:
    """Keep the protocol libraries' own request logs (URLs, headers) out of the log."""
    quiet_pynetdicom(False)
    quiet_dicomweb(False)


def search_studies(server: Server, query: StudyQuery) -> list[StudyResult]:
    """The studies ``query`` finds on ``server`` (runs in a worker).

    Raises
    ------
    PacsError
        The server cannot be reached, refuses, or answers nothing within its timeout.
    """
    quiet_network_logs()
    return open_client(server).find(query)


def study_folder(cache_root: str | os.PathLike[str], study_uid: str) -> Path:
    """The cache folder of one study.

    Raises
    ------
    ValueError
        ``study_uid`` is not a UID (a peer's value never becomes a path).
    """
    if not is_uid(study_uid):
        raise ValueError(f"StudyInstanceUID {study_uid[:70]!r} is not a UID")
    return Path(cache_root) / CACHE_SUBFOLDER / study_uid


class _ReportingSink(FolderSink):
    """A :class:`FolderSink` that tells :class:`Arrivals` of each image written whole."""

    def __init__(self, out_dir: Path, arrivals: Arrivals) -> None:
        super().__init__(out_dir)
        self._arrivals = arrivals

    def write(self, sop_uid: str, data: bytes) -> Path:
        path = super().write(sop_uid, data)
        self._arrivals.paths.put(str(path))
        return path


@dataclass
class Arrivals:
    """What a running retrieve has delivered, shared between its worker and the GUI thread.

    Attributes
    ----------
    paths : queue.Queue of str
        Each image file written whole (the GUI opens them as they come).
    folders : queue.Queue of str
        Each study folder once its study is done (opening it again adds the images that were
        already in the cache from an earlier retrieve).
    done, total : int
        Images so far, over all studies (``total`` grows as each study is listed).
    """

    paths: queue.Queue[str] = field(default_factory=queue.Queue)
    folders: queue.Queue[str] = field(default_factory=queue.Queue)
    done: int = 0
    total: int = 0


@dataclass
class RetrieveSummary:
    """What a retrieve did over all its studies."""

    studies: int = 0
    fetched: int = 0
    skipped: int = 0
    missing: int = 0
    cancelled: bool = False
    folders: list[str] = field(default_factory=list)

    def line(self) -> str:
        """The one status line."""
        word = "study" if self.studies == 1 else "studies"
        text = f"Retrieved {self.studies} {word}: {self.fetched} images"
        if self.skipped:
            text += f", {self.skipped} already in the cache"
        if self.missing:
            text += f", {self.missing} not received"
        return text + (" (cancelled)" if self.cancelled else "")


def retrieve_studies(
    server: Server,
    study_uids: list[str],
    cache_root: str | os.PathLike[str],
    arrivals: Arrivals,
    cancel: threading.Event,
) -> RetrieveSummary:
    """Retrieve each study into its own cache folder, one after the other (runs in a worker).

    Stops between images once ``cancel`` is set; what arrived stays in the cache.

    Raises
    ------
    PacsError
        The server failed (the message says how many images are in the folder).
    """
    quiet_network_logs()
    client = open_client(server)
    summary = RetrieveSummary()
    base = 0
    for uid in study_uids:
        if cancel.is_set():
            break
        try:
            folder = study_folder(cache_root, uid)
        except ValueError as exc:
            raise PacsError(server.label, str(exc)) from None
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PneumoViewError(
                folder.parent, f"cannot be created ({exc.strerror or exc})"
            ) from None
        sink = _ReportingSink(folder, arrivals)

        def _progress(done: int, total: int, offset: int = base) -> None:
            arrivals.done, arrivals.total = offset + done, max(arrivals.total, offset + total)

        report = retrieve(client, [uid], sink, cancel=cancel, on_progress=_progress)
        base += report.total
        summary.studies += 1
        summary.fetched += report.fetched
        summary.skipped += report.skipped
        summary.missing += len(report.missing) if not report.cancelled else 0
        summary.folders.append(str(folder))
        arrivals.folders.put(str(folder))
    summary.cancelled = cancel.is_set()
    return summary


def send_folder(
    server: Server, folder: str | os.PathLike[str], cancel: threading.Event
) -> SendReport:
    """Send every DICOM file in ``folder`` to ``server`` (runs in a worker).

    Raises
    ------
    PacsError
        The server cannot be reached or the connection was lost.
    """
    quiet_network_logs()
    return send_files(open_client(server), [folder], cancel=cancel)
