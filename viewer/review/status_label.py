"""The review in the status bar: "N of M reviewed • session: file name"."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtWidgets

from viewer.review.controller import ReviewController


class ReviewStatusLabel(QtWidgets.QLabel):
    """Review progress and the session file of a :class:`ReviewController` (kept current)."""

    def __init__(self, review: ReviewController, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("", parent)
        self.setObjectName("review_status")
        self.review = review
        review.changed.connect(self.update_text)
        review.session_changed.connect(lambda _p: self.update_text())

    def update_text(self) -> None:
        done, total = self.review.review_progress()
        session = Path(self.review.session_path).name if self.review.session_path else "not saved"
        self.setText(f"{done} of {total} reviewed • session: {session}")
        self.setToolTip(self.review.session_path)
