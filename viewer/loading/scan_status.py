"""The scan in the status bar: its progress bar, its Cancel button and the summary line.

:class:`ScanStatus` follows a :class:`viewer.loading.scan_controller.ScanController` and keeps
the summary ("N images open; M problems (see Problems)") current while problems arrive.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from detector.files.scan import FOLDER_LINK_REASON
from viewer.loading.scan_controller import ScanController
from viewer.panels.problems_panel import ProblemsPanel
from viewer.state import ViewerState


class ScanStatus(QtCore.QObject):
    """Progress, Cancel and summary of the scans of one window.

    Parameters
    ----------
    scan : ScanController
        The scans followed (Cancel stops them).
    state : ViewerState
        What is open (counted in the summary).
    problems : ProblemsPanel
        What cannot be opened or shown (counted in the summary).
    status_bar : QStatusBar
        Where the summary shows (the owner places :attr:`progress` and :attr:`cancel_button`).
    """

    def __init__(
        self,
        scan: ScanController,
        state: ViewerState,
        problems: ProblemsPanel,
        status_bar: QtWidgets.QStatusBar,
        parent: QtCore.QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.problems = problems
        self.status_bar = status_bar
        #: The last scan summary shown in the status bar (refreshed when the problem count grows).
        self.summary = ""
        self.progress = QtWidgets.QProgressBar()
        self.progress.setObjectName("scan_progress")
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_button = QtWidgets.QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop scanning (Esc)")
        self.cancel_button.clicked.connect(scan.cancel)
        self.cancel_button.hide()
        scan.started.connect(self._on_started)
        scan.progress.connect(self._on_progress)
        scan.finished.connect(self._on_finished)
        problems.count_changed.connect(self._on_problem_count_changed)

    def _on_started(self, text: str) -> None:
        self.progress.setRange(0, 0)
        self.progress.setFormat("Scanning...")
        self.progress.show()
        self.cancel_button.show()
        self.status_bar.showMessage(text)

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat("%v / %m files")

    def _on_finished(self) -> None:
        self.progress.hide()
        self.cancel_button.hide()
        self.summary = self.scan_summary()
        self.show_summary()

    def show_summary(self) -> None:
        """The summary replaces the status-bar message (empty while the first scan runs)."""
        self.status_bar.showMessage(self.summary)

    def clear(self) -> None:
        """Everything was closed: no summary until the next scan ends."""
        self.summary = ""

    def scan_summary(self) -> str:
        """The status-bar summary: "N images open; M problems (see Problems)", M being exactly
        what the Problems panel lists (scan failures and images whose pixels do not decode),
        then the side files skipped and the symbolic links to folders not followed (the
        command line names the first; the window counts them)."""
        n_images = len(self.state.images())
        n_problems = len(self.problems.problems)
        if n_images == 0 and n_problems == 0:
            return "No DICOM files found"
        msg = f"{n_images} image{'s' if n_images != 1 else ''} open"
        if n_problems:
            msg += f"; {n_problems} problem{'s' if n_problems != 1 else ''} (see Problems)"
        side = sum(1 for s in self.state.result.skipped if s.side_file)
        if side:
            msg += f"; {side} file{'s' if side != 1 else ''} skipped (not images)"
        links = sum(1 for s in self.state.result.skipped if s.reason == FOLDER_LINK_REASON)
        if links == 1:
            msg += "; 1 link to a folder not followed"
        elif links:
            msg += f"; {links} links to folders not followed"
        return msg

    def _on_problem_count_changed(self, _count: int) -> None:
        if self.summary:
            showing = self.status_bar.currentMessage() == self.summary
            self.summary = self.scan_summary()
            if showing:
                self.show_summary()
