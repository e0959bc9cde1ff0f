"""A session the window cannot write (issue 21, defects 3 and 6): the reader is asked, told and
loses nothing."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from detector.review import ImageStatus, open_session
from tests.viewer.conftest import open_and_wait
from viewer.review.keys import key_for

Key = QtCore.Qt.Key


@pytest.fixture
def study(make_dicom, tmp_path: Path) -> Path:
    folder = tmp_path / "study"
    for i in range(1, 4):
        make_dicom(
            f"p{i}.dcm",
            pixels=np.full((64, 64), 60 * i, np.uint8),
            folder=folder,
            InstanceNumber=i,
            StudyInstanceUID="1.2.3",
            SeriesInstanceUID="1.2.3.4",
        )
    return folder


def _click_when_asked(qtbot, text: str, asked: list[str]) -> None:
    """Click the button ``text`` of the next modal dialog, as the reader would."""

    def poll() -> None:
        box = QtWidgets.QApplication.activeModalWidget()
        if not isinstance(box, QtWidgets.QMessageBox):
            QtCore.QTimer.singleShot(20, poll)
            return
        asked.append(box.text())
        (button,) = [b for b in box.buttons() if b.text() == text]
        qtbot.mouseClick(button, QtCore.Qt.MouseButton.LeftButton)

    QtCore.QTimer.singleShot(20, poll)


class TestSecondWindow:
    def test_is_asked_reads_read_only_and_saves_elsewhere(
        self, qtbot, make_main_window, study: Path, tmp_path: Path
    ) -> None:
        first = make_main_window()
        open_and_wait(qtbot, first, [str(study)])
        session = first.review.session_path

        second = make_main_window()
        messages: list[str] = []
        second.review.message.connect(messages.append)
        asked: list[str] = []
        _click_when_asked(qtbot, "Review read-only", asked)
        open_and_wait(qtbot, second, [str(study)])
        name = Path(session).name
        assert asked and asked[0].startswith(
            f"{name}: open in another PneumoView (pid {os.getpid()})."
        )
        assert second.review.store is not None and second.review.store.read_only
        assert f"{name}: opened read-only, edits are not saved" in messages[0]

        key = second.review.current_key
        second.activateWindow()  # the reader clicks into the second window
        qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is second, timeout=5_000)
        qtbot.keyClick(second, Key.Key_N)  # "no opacity": kept in the window, not written
        assert second.review.review.image(key).status is ImageStatus.NO_OPACITY
        first.close()  # the first window's file is as it wrote it
        state, store = open_session(session, read_only=True)
        store.close()
        assert state.image(key).status is ImageStatus.UNREVIEWED

        elsewhere = tmp_path / "mine.sqlite"
        assert second.review.open_session(elsewhere)  # File > Review session... a new file
        assert not second.review.store.read_only
        qtbot.keyClick(second, Key.Key_Space)  # the next edits go to the new file
        second.close()
        state, store = open_session(elsewhere, read_only=True)
        store.close()
        assert state.image(key).status is ImageStatus.NO_OPACITY
        assert len(state.images) == 3


class TestDiskFull:
    def test_registering_images_on_a_full_disk(
        self, qtbot, make_main_window, make_dicom, study: Path, tmp_path: Path
    ) -> None:
        """One line says "disk full"; every image is still open and reviewable."""
        win = make_main_window()
        open_and_wait(qtbot, win, [str(study)])
        db = win.review.store._db
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "database or disk is full"
        more = tmp_path / ("more-" + "x" * 150)
        for i in range(30):
            make_dicom(f"q{i:02d}.dcm", pixels=np.zeros((16, 16), np.uint8), folder=more)
        messages: list[str] = []
        win.review.message.connect(messages.append)
        with qtbot.waitSignal(win.scan_finished, timeout=30_000):
            win.open_paths([str(more)])
        assert len(win.state.images()) == 33
        assert all(key_for(i) in win.review.review.images for i in win.state.images())
        assert messages
        assert messages[0].startswith("Review session not written: ")
        assert "cannot write the session: disk full; kept in this window" in messages[0]
