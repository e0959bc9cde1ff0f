"""A retrieve in the background: studies into the cache, their images opened as they arrive.

:func:`viewer.pacs.jobs.retrieve_studies` runs in a superqt worker; a timer on the GUI thread
drains what arrived every few hundred milliseconds and hands the files to ``open_paths`` (the
window's folder-open path: scan, study browser, detector), so the first images are on screen
before the last one arrives. When a study is done its folder is opened too, which adds images
that were already in the cache from an earlier retrieve (files already open are ignored).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Sequence

from PySide6 import QtCore
from superqt.utils import WorkerBase

from detector.errors import PneumoViewError
from detector.pacs.servers import Server
from viewer.loading.scan_controller import start_worker
from viewer.pacs.jobs import Arrivals, RetrieveSummary, retrieve_studies

logger = logging.getLogger(__name__)

#: ``open_paths(paths, recent=folders)``: the window's way of opening files.
OpenPaths = Callable[..., object]
DRAIN_MS = 300


class RetrieveJob(QtCore.QObject):
    """One retrieve at a time.

    Parameters
    ----------
    open_paths : callable
        ``open_paths(paths, recent=[study folder])`` opens files in the window.
    cache_root : str
        The per-user cache folder (studies go to ``<cache_root>/pacs/<StudyInstanceUID>``).

    Signals
    -------
    progress(int, int)
        Images done (arrived or already cached) and the total known so far.
    finished(str)
        The one line saying how it ended (done, cancelled or why it failed).
    """

    progress = QtCore.Signal(int, int)
    finished = QtCore.Signal(str)

    def __init__(
        self, open_paths: OpenPaths, cache_root: str, parent: QtCore.QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.open_paths = open_paths
        self.cache_root = cache_root
        self._worker: WorkerBase | None = None
        self._cancel = threading.Event()
        self._arrivals = Arrivals()
        self._outcome = ""
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(DRAIN_MS)
        self._timer.timeout.connect(self._drain)

    @property
    def running(self) -> bool:
        """Whether a retrieve is in progress."""
        return self._worker is not None

    def start(self, server: Server, study_uids: Sequence[str]) -> bool:
        """Retrieve ``study_uids`` from ``server``; False when one is already running."""
        if self.running or not study_uids:
            return False
        self._cancel = threading.Event()
        self._arrivals = Arrivals()
        self._outcome = ""
        self._worker = start_worker(
            retrieve_studies,
            server,
            list(study_uids),
            self.cache_root,
            self._arrivals,
            self._cancel,
            connect={
                "returned": self._on_returned,
                "errored": self._on_errored,
                "finished": self._on_finished,
            },
        )
        self._timer.start()
        return True

    def cancel(self) -> None:
        """Stop between two images; what arrived stays in the cache and open."""
        self._cancel.set()

    def shutdown(self) -> None:
        """Window closing: stop, open nothing more."""
        self._cancel.set()
        self._timer.stop()
        self.open_paths = lambda *args, **kwargs: None

    def _drain(self) -> None:
        paths: list[str] = []
        folders: list[str] = []
        for source, into in ((self._arrivals.paths, paths), (self._arrivals.folders, folders)):
            while True:
                try:
                    into.append(source.get_nowait())
                except queue.Empty:
                    break
        if paths:
            recent = [os.path.dirname(paths[0])]
            self.open_paths(paths, recent=recent)
        if folders:
            self.open_paths(folders, recent=folders)
        self.progress.emit(self._arrivals.done, self._arrivals.total)

    def _on_returned(self, summary: RetrieveSummary) -> None:
        self._outcome = summary.line()

    def _on_errored(self, exc: Exception) -> None:
        if isinstance(exc, PneumoViewError):
            self._outcome = f"Retrieve stopped: {exc}"
        else:
            logger.debug("retrieve failed", exc_info=exc)
            self._outcome = f"Retrieve stopped: {type(exc).__name__}: {exc}"

    def _on_finished(self) -> None:
        self._worker = None
        self._timer.stop()
        self._drain()
        self.finished.emit(self._outcome or "Retrieve cancelled")
