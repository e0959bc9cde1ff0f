"""Ground truth imported from a labels CSV without blocking the window.

The CSV is read and matched to the open images in a superqt worker
(:func:`detector.review.importing.read_plan`, Qt-free) while the status bar shows the lines
read and a Cancel button; the result is applied to the review on the GUI thread in one step
(:func:`apply_import`). Cancel (or closing the window) stops the read and imports nothing.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Protocol

from PySide6 import QtCore, QtWidgets
from superqt.utils import WorkerBase

from detector.files.scan import Problem
from detector.review import ReviewState, SessionError
from detector.review.importing import LabelsPlan, apply_plan, import_classes, open_patients
from detector.review.importing import read_plan as read_labels_plan
from detector.rsna.labels import LabelsError, ReadCancelled
from viewer.loading.scan_controller import start_worker
from viewer.state import ViewerState

logger = logging.getLogger(__name__)


class ImportTarget(Protocol):
    """What an import uses of :class:`viewer.review.controller.ReviewController`."""

    review: ReviewState
    state: ViewerState

    @property
    def message(self) -> QtCore.SignalInstance: ...

    def refresh(self) -> None: ...


def error_line(path: str, exc: BaseException) -> str:
    """One line for a failed import: the file and the reason, never a traceback."""
    if isinstance(exc, LabelsError):
        return str(exc)
    if isinstance(exc, (OSError, ValueError, SessionError)):
        return f"{Path(path).name}: {exc}"
    return f"{Path(path).name}: import failed ({type(exc).__name__}: {exc})"


def apply_import(
    target: ImportTarget, path: str, classes: str | None = None, plan: LabelsPlan | None = None
) -> str:
    """Import ground truth (``plan``, or ``path`` read here) and a class CSV; the summary.

    Rows for images not open are kept in the session; bad rows are skipped and listed in the
    Problems panel with their line numbers. The summary (or the one-line error) is also
    emitted as ``target.message``.
    """
    try:
        if plan is None:
            plan = read_labels_plan(path, open_patients(target.review))
        report = apply_plan(target.review, plan)
        lines = [report.summary()]
        problems = list(report.problems)
        if classes:
            class_report = import_classes(target.review, classes)
            lines.append(class_report.summary())
            problems += class_report.problems
    except (LabelsError, OSError, ValueError, SessionError) as exc:
        text = error_line(path, exc)
        target.message.emit(text)
        return text
    if problems:
        target.state.add_problems([Problem(path, problem) for problem in problems])
    target.refresh()
    text = "; ".join(lines)
    target.message.emit(text)
    return text


class LabelImport(QtCore.QObject):
    """One labels import at a time, read in a worker, with progress and Cancel.

    Parameters
    ----------
    target : ImportTarget
        The review controller the result is applied to (and that reports the outcome).
    parent : QWidget
        Owner; closing it cancels a running import.

    Attributes
    ----------
    progress : QProgressBar
        Lines read of the file (the owner places it in the status bar).
    cancel_button : QToolButton
        Stops the import; nothing is imported.
    """

    #: ``(lines read, lines in the file)``, emitted from the worker thread.
    lines_read = QtCore.Signal(int, int)
    #: The outcome line of an import that ended (imported, cancelled or failed).
    done = QtCore.Signal(str)

    def __init__(self, target: ImportTarget, parent: QtWidgets.QWidget) -> None:
        super().__init__(parent)
        self.target = target
        self._worker: WorkerBase | None = None
        self._cancel = threading.Event()
        self._path = ""
        self._classes: str | None = None
        self.progress = QtWidgets.QProgressBar()
        self.progress.setObjectName("import_progress")
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_button = QtWidgets.QToolButton()
        self.cancel_button.setObjectName("import_cancel")
        self.cancel_button.setText("Cancel import")
        self.cancel_button.setToolTip("Stop importing the labels CSV (nothing is imported)")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        self.lines_read.connect(self._on_lines_read)
        parent.installEventFilter(self)

    @property
    def running(self) -> bool:
        """Whether an import is being read."""
        return self._worker is not None

    def start(self, path: str, classes: str | None = None) -> bool:
        """Start importing ``path`` (and then ``classes``); False when one is already running."""
        name = Path(path).name
        if self.running:
            self.target.message.emit(
                f"{name}: not imported; {Path(self._path).name} is still being imported"
            )
            return False
        self._path, self._classes = path, classes
        self._cancel = threading.Event()
        self.progress.setRange(0, 0)
        self.progress.setFormat("Reading labels...")
        self.progress.show()
        self.cancel_button.show()
        self.target.message.emit(f"Importing {name}...")
        self._worker = start_worker(
            read_labels_plan,
            path,
            open_patients(self.target.review),
            progress=self.lines_read.emit,
            cancelled=self._cancel.is_set,
            connect={
                "returned": self._on_returned,
                "errored": self._on_errored,
                "finished": self._on_finished,
            },
        )
        return True

    def cancel(self) -> None:
        """Stop the running import: nothing of it is imported."""
        if self.running:
            self._cancel.set()
            self.cancel_button.setEnabled(False)

    def _on_lines_read(self, done: int, total: int) -> None:
        if self.running and total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))
            self.progress.setFormat("%v / %m lines")

    def _cancelled_line(self) -> str:
        return f"{Path(self._path).name}: import cancelled; nothing imported"

    def _on_returned(self, plan: LabelsPlan) -> None:
        if self._cancel.is_set():
            text = self._cancelled_line()
            self.target.message.emit(text)
        else:
            # Adding the rows is one step on this thread: say so before it starts.
            self.cancel_button.setEnabled(False)
            self.progress.setFormat("Adding to the review...")
            self.progress.repaint()
            text = apply_import(self.target, self._path, self._classes, plan)
        self.done.emit(text)

    def _on_errored(self, exc: Exception) -> None:
        if isinstance(exc, ReadCancelled):
            text = self._cancelled_line()
        else:
            logger.debug("labels import of %s failed", self._path, exc_info=exc)
            text = error_line(self._path, exc)
        self.target.message.emit(text)
        self.done.emit(text)

    def _on_finished(self) -> None:
        self._worker = None
        self.progress.hide()
        self.cancel_button.hide()
        self.cancel_button.setEnabled(True)

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802
        """The window closing stops the import (nothing imported)."""
        if event.type() == QtCore.QEvent.Type.Close:
            self._cancel.set()
        return False
