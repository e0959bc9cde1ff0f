"""A session that cannot be written: the read-only question, and saving the review elsewhere.

Used by :class:`viewer.review.controller.ReviewController` when a session is open in another
PneumoView or cannot be written (read-only file, folder or disk) and when a write fails (a
full disk): the review stays in the window and can be written to a new session file.
"""

from __future__ import annotations

import os

from PySide6 import QtWidgets

from detector.review import ReviewState, SessionStore, open_session


def ask_read_only(parent: QtWidgets.QWidget, reason: str) -> bool:
    """Ask whether to review a session that cannot be written read-only (``True``: yes).

    Parameters
    ----------
    parent : QWidget
        A widget of the window (the dialog is modal over its window).
    reason : str
        Why it cannot be written, one line (``"s.sqlite: open in another PneumoView (pid 12)"``).
    """
    box = QtWidgets.QMessageBox(parent.window())
    box.setIcon(QtWidgets.QMessageBox.Icon.Warning)
    box.setWindowTitle("Review session")
    box.setText(
        f"{reason}.\n\nReview it read-only? Edits stay in this window until you save them "
        "elsewhere (File > Review session...)."
    )
    read = box.addButton("Review read-only", QtWidgets.QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QtWidgets.QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is read


def copy_review(review: ReviewState, path: str | os.PathLike[str]) -> SessionStore:
    """Write a whole review (images, boxes, models, kept ground truth) to a new session file.

    Returns the new file's store (open, locked); the caller attaches it as the review's writer.

    Raises
    ------
    SessionError
        The file cannot be created or written (nothing is half written: it is closed).
    """
    _empty, store = open_session(path, reviewer=review.reviewer)
    try:
        store.write(
            [(None, b) for b in review.boxes()],
            list(review.images.values()),
            "save as",
            review.reviewer,
        )
        for model in review.models.values():
            store.write_model(model)
        store.write_pending(dict(review.pending_truth))
    except BaseException:
        store.close()
        raise
    return store
