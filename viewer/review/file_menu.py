"""File-menu entries of the review: import ground truth, export, the review session file.

Thin dialogs over :class:`viewer.review.controller.ReviewController` (which does the work and
reports one line per outcome in the status bar).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from PySide6 import QtGui, QtWidgets

from detector.review.export import EXPORT_FORMATS

if TYPE_CHECKING:
    from viewer.main_window import MainWindow

#: Default file names of the export formats.
EXPORT_NAMES = {
    "labels": "reviewed_labels.csv",
    "audit": "review_audit.csv",
    "submission": "submission.csv",
}


class ReviewFileActions:
    """File → Import ground truth…, Export (labels / audit / submission)…, Review session…."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.act_import = QtGui.QAction("Import &ground truth (labels CSV)...", window)
        self.act_import.triggered.connect(self.import_dialog)
        self.act_import_classes = QtGui.QAction("Import class CSV...", window)
        self.act_import_classes.triggered.connect(self.import_classes_dialog)
        self.export_actions: dict[str, QtGui.QAction] = {}
        for fmt in EXPORT_FORMATS:
            act = QtGui.QAction(f"Export {fmt}...", window)
            act.triggered.connect(lambda _=False, f=fmt: self.export_dialog(f))
            self.export_actions[fmt] = act
        self.act_session = QtGui.QAction("Review &session...", window)
        self.act_session.triggered.connect(self.session_dialog)

    def fill_menu(self, menu: QtWidgets.QMenu) -> None:
        menu.addAction(self.act_import)
        menu.addAction(self.act_import_classes)
        export = menu.addMenu("&Export")
        export.addActions(list(self.export_actions.values()))
        menu.addAction(self.act_session)

    def _folder(self) -> str:
        return self.window.prefs.last_folder or os.getcwd()

    def import_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self.window, "Import ground truth (RSNA labels CSV)", self._folder(), "CSV (*.csv)"
        )
        if path:
            self.window.review.import_labels(path)

    def import_classes_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self.window, "Import class CSV (patientId,class)", self._folder(), "CSV (*.csv)"
        )
        if path:
            from detector.review.importing import import_classes
            from detector.rsna.labels import LabelsError

            try:
                report = import_classes(self.window.review.review, path)
            except (LabelsError, OSError, ValueError) as exc:
                self.window.statusBar().showMessage(str(exc))
                return
            self.window.statusBar().showMessage(report.summary(), 8000)

    def export_dialog(self, fmt: str) -> None:
        start = os.path.join(self._folder(), EXPORT_NAMES.get(fmt, f"{fmt}.csv"))
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self.window, f"Export {fmt}", start, "CSV (*.csv)"
        )
        if path:
            self.window.review.export(path, fmt)

    def session_dialog(self) -> None:
        """Show the session file in use; offer to open another one."""
        review = self.window.review
        current = review.session_path or "(none yet: opened with the first folder)"
        box = QtWidgets.QMessageBox(self.window)
        box.setWindowTitle("Review session")
        box.setText(
            f"Every edit is saved at once to:\n{current}\n\n"
            f"Reviewer: {review.review.reviewer}\n"
            f"{review.review_progress()[0]} of {review.review_progress()[1]} images reviewed"
        )
        other = box.addButton(
            "Open another session...", QtWidgets.QMessageBox.ButtonRole.ActionRole
        )
        box.addButton(QtWidgets.QMessageBox.StandardButton.Close)
        box.exec()
        if box.clickedButton() is other:
            path, _ = QtWidgets.QFileDialog.getSaveFileName(
                self.window,
                "Open or create a review session",
                os.path.dirname(review.session_path) or self._folder(),
                "Review sessions (*.sqlite)",
                options=QtWidgets.QFileDialog.Option.DontConfirmOverwrite,
            )
            if path:
                review.open_session(path)
