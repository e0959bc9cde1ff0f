"""File-menu entries of the review: import ground truth, export, the review session file.

Thin dialogs over :class:`viewer.review.controller.ReviewController` (which does the work and
reports one line per outcome in the status bar). A labels CSV is read in a worker
(:class:`viewer.review.label_import.LabelImport`: progress and Cancel in the status bar).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6 import QtGui, QtWidgets

from detector.review.export import EXPORT_FORMATS
from viewer.platform.settings import AppSettings
from viewer.review.controller import ReviewController
from viewer.review.label_import import LabelImport

#: Default file names of the export formats.
EXPORT_NAMES = {
    "labels": "reviewed_labels.csv",
    "audit": "review_audit.csv",
    "submission": "submission.csv",
    "reviewed-submission": "reviewed_submission.csv",
}


class ReviewFileActions:
    """File → Import ground truth…, Export (labels / audit / submission / reviewed-submission)…,
    Review session….

    Parameters
    ----------
    review : ReviewController
        Does the imports, exports and session changes.
    prefs : AppSettings
        The last folder the dialogs start in.
    show_message : callable
        ``(text[, msecs])``: one line for the status bar.
    parent : QWidget
        Owner of the actions and the dialogs.
    """

    def __init__(
        self,
        review: ReviewController,
        prefs: AppSettings,
        show_message: Callable[..., object],
        parent: QtWidgets.QWidget,
    ) -> None:
        self.review = review
        self.prefs = prefs
        self.show_message = show_message
        self.parent = parent
        #: Reads the labels CSV in a worker; its progress bar and Cancel join the status bar.
        self.label_import = LabelImport(review, parent)
        if isinstance(parent, QtWidgets.QMainWindow):
            bar = parent.statusBar()
            bar.addPermanentWidget(self.label_import.progress)
            bar.addPermanentWidget(self.label_import.cancel_button)
        self.act_import = QtGui.QAction("Import &ground truth (labels CSV)...", parent)
        self.act_import.triggered.connect(self.import_dialog)
        self.act_import_classes = QtGui.QAction("Import class CSV...", parent)
        self.act_import_classes.triggered.connect(self.import_classes_dialog)
        self.export_actions: dict[str, QtGui.QAction] = {}
        for fmt in EXPORT_FORMATS:
            act = QtGui.QAction(f"Export {fmt}...", parent)
            act.triggered.connect(lambda _=False, f=fmt: self.export_dialog(f))
            self.export_actions[fmt] = act
        self.act_session = QtGui.QAction("Review &session...", parent)
        self.act_session.triggered.connect(self.session_dialog)

    def fill_menu(self, menu: QtWidgets.QMenu) -> None:
        menu.addAction(self.act_import)
        menu.addAction(self.act_import_classes)
        export = menu.addMenu("&Export")
        export.addActions(list(self.export_actions.values()))
        menu.addAction(self.act_session)

    def _folder(self) -> str:
        return self.prefs.last_folder or os.getcwd()

    def import_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self.parent, "Import ground truth (RSNA labels CSV)", self._folder(), "CSV (*.csv)"
        )
        if path:
            self.label_import.start(path)

    def import_classes_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self.parent, "Import class CSV (patientId,class)", self._folder(), "CSV (*.csv)"
        )
        if path:
            from detector.review.importing import import_classes
            from detector.rsna.labels import LabelsError

            try:
                report = import_classes(self.review.review, path)
            except (LabelsError, OSError, ValueError) as exc:
                self.show_message(str(exc))
                return
            self.show_message(report.summary(), 8000)

    def export_dialog(self, fmt: str) -> None:
        start = os.path.join(self._folder(), EXPORT_NAMES.get(fmt, f"{fmt}.csv"))
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self.parent, f"Export {fmt}", start, "CSV (*.csv)"
        )
        if path:
            self.review.export(path, fmt)

    def session_dialog(self) -> None:
        """Show the session file in use; offer to open another one."""
        review = self.review
        current = review.session_path or "(none yet: opened with the first folder)"
        box = QtWidgets.QMessageBox(self.parent)
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
                self.parent,
                "Open or create a review session",
                os.path.dirname(review.session_path) or self._folder(),
                "Review sessions (*.sqlite)",
                options=QtWidgets.QFileDialog.Option.DontConfirmOverwrite,
            )
            if path:
                review.open_session(path)
