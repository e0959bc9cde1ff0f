"""The review in the status bar: "N of M reviewed • 60 images/h, median 40 s/image • session: file".

The pace (:func:`detector.review.reading_speed.reading_speed`) comes from the time each image
was on screen, counted by the review controller, over this session's images."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtWidgets

from detector.review.reading_speed import reading_speed
from viewer.review.controller import ReviewController


class ReviewStatusLabel(QtWidgets.QLabel):
    """Review progress, reading pace and the session file of a :class:`ReviewController` (kept current)."""

    def __init__(self, review: ReviewController, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("", parent)
        self.setObjectName("review_status")
        self.review = review
        review.changed.connect(self.update_text)
        review.session_changed.connect(lambda _p: self.update_text())

    def update_text(self) -> None:
        done, total = self.review.review_progress()
        session = Path(self.review.session_path).name if self.review.session_path else "not saved"
        speed = reading_speed(self.review.review.images.values())
        pace = f" \u2022 {speed.text()}" if speed is not None else ""
        self.setText(f"{done} of {total} reviewed{pace} \u2022 session: {session}")
        self.setToolTip(self.review.session_path)
