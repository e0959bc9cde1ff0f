"""Review → Report...: the reading report of the open session, written in a worker.

It asks for a folder (next to the session by default), runs
:func:`detector.report.page.write_report` (Qt-free; matplotlib's Agg backend) in a superqt
worker so the window stays responsive, and opens ``index.html`` in the browser when done. A
session or folder that cannot be used is one status-bar line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from PySide6 import QtCore, QtGui, QtWidgets
from superqt.utils import WorkerBase

from detector.errors import PneumoViewError
from detector.report.page import Report, write_report
from viewer.loading.scan_controller import start_worker

logger = logging.getLogger(__name__)


class ReportSource(Protocol):
    """What the report reads of the review controller: the session file."""

    session_path: str


def default_report_folder(session: str) -> str:
    """``<session>.report`` beside the session file."""
    path = Path(session)
    return str(path.with_name(path.name + ".report"))


class ReportAction(QtCore.QObject):
    """The Review → Report... action and its one worker at a time.

    Parameters
    ----------
    review : ReportSource
        The review controller (its ``session_path``).
    add : callable
        The window's action factory.
    message : callable
        Shows a status-bar line.
    parent : QWidget
        Parent of the folder dialog.

    Signals
    -------
    written(str)
        The page was written (its path) and handed to the browser.
    failed(str)
        The one line saying why no report was written.
    """

    written = QtCore.Signal(str)
    failed = QtCore.Signal(str)

    def __init__(
        self,
        review: ReportSource,
        add: Callable[..., QtGui.QAction],
        message: Callable[[str], object],
        parent: QtWidgets.QWidget,
    ) -> None:
        super().__init__(parent)
        self.review = review
        self.message = message
        self._parent = parent
        self._worker: WorkerBase | None = None
        self.act_report = add(
            "&Report...",
            self.start,
            tip="Write the reading report of this session (HTML with plots) and open it",
        )

    @property
    def running(self) -> bool:
        """Whether a report is being written."""
        return self._worker is not None

    def start(self) -> None:
        """Ask for a folder, then write the report there (in a worker)."""
        session = self.review.session_path
        if not session:
            self.message("No review session: open a folder first")
            return
        folder = QtWidgets.QFileDialog.getExistingDirectory(
            self._parent, "Write the reading report into", default_report_folder(session)
        )
        if folder:
            self.write(folder)

    def write(self, folder: str) -> bool:
        """Write the report of the open session into ``folder``; False if one is running."""
        session = self.review.session_path
        if self.running or not session:
            self.message("A report is already being written" if session else "No review session")
            return False
        self.message(f"Writing the reading report into {folder}...")
        self._worker = start_worker(
            write_report,
            session,
            folder,
            connect={
                "returned": self._on_worker_returned,
                "errored": self._on_worker_errored,
                "finished": self._on_worker_finished,
            },
        )
        return True

    def _on_worker_returned(self, report: Report) -> None:
        extra = f" ({len(report.problems)} file(s) not read)" if report.problems else ""
        self.message(f"Reading report written: {report.page}{extra}")
        QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(report.page)))
        self.written.emit(str(report.page))

    def _on_worker_errored(self, exc: Exception) -> None:
        if isinstance(exc, PneumoViewError):
            text = f"No report: {exc}"
        else:
            logger.debug("report failed", exc_info=exc)
            text = f"No report: {type(exc).__name__}: {exc}"
        self.message(text)
        self.failed.emit(text)

    def _on_worker_finished(self) -> None:
        self._worker = None
