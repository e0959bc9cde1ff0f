"""A restart brings the reading back: the model, the threshold, the image, compare mode and
IoU come from the session file; a model file gone since is one status-bar line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6 import QtCore

from tests.viewer.conftest import open_and_wait
from viewer.platform.user_folders import models_dir
from viewer.review.keys import key_for

Key = QtCore.Qt.Key
Mod = QtCore.Qt.KeyboardModifier


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """A copy of the shipped demo checkpoint (the test may delete it)."""
    path = tmp_path / "models" / "mine.pt"
    path.parent.mkdir()
    shutil.copy(models_dir() / "demo.pt", path)
    return path


def _set_iou(qtbot, window, text: str) -> None:
    """Type an IoU into the Findings panel's spin box, as the reader does."""
    spin = window.findings.iou_spin
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin.lineEdit(), text)
    qtbot.keyClick(spin, Key.Key_Return)


def _read_first_session(qtbot, make_main_window, study: Path, model: Path):
    """Load a model, lower the threshold, go to image 2, compare at IoU 0.3; close."""
    win = make_main_window()
    open_and_wait(qtbot, win, [str(study)])
    with qtbot.waitSignal(win.detection.model_ready, timeout=60_000):
        win.load_model(str(model))
    qtbot.waitUntil(lambda: win.detection.threshold == pytest.approx(0.4), timeout=5_000)
    win.detection_panel.slider.setValue(0.12)  # the reader drags the slider down
    second = win.state.images()[1]
    with qtbot.waitSignal(win.image_shown, timeout=15_000):
        qtbot.keyClick(win.canvas, Key.Key_PageDown)
    assert win.state.current is second
    qtbot.keyClick(win.canvas, Key.Key_G, Mod.ShiftModifier)  # compare on
    _set_iou(qtbot, win, "0.3")
    assert win.review.compare and win.review.iou_threshold == pytest.approx(0.3)
    session = win.review.session_path
    win.close()
    return session, key_for(second)


def test_restart_restores_model_threshold_image_and_compare(qtbot, make_main_window, study, model):
    session, second = _read_first_session(qtbot, make_main_window, study, model)

    again = make_main_window()
    with qtbot.waitSignal(again.detection.model_ready, timeout=60_000):
        open_and_wait(qtbot, again, [str(study)])
    assert again.review.session_path == session
    assert again.detection.model_path == str(model)
    # The model's own 0.4 is applied first, then the reader's 0.12 replaces it.
    qtbot.waitUntil(lambda: again.detection.threshold == pytest.approx(0.12), timeout=5_000)
    assert again.detection_panel.threshold == pytest.approx(0.12)
    qtbot.waitUntil(lambda: again.review.shown_key() == second, timeout=15_000)
    assert again.review.compare and again.review_actions.act_compare.isChecked()
    assert again.findings.compare_check.isChecked()
    assert again.review.iou_threshold == pytest.approx(0.3)
    assert again.findings.iou_spin.value() == pytest.approx(0.3)
    assert "mine.pt" in again.detection_panel.model_label.text()


def test_missing_model_at_restart_is_one_line_and_nothing_is_lost(
    qtbot, make_main_window, study, model
):
    session, second = _read_first_session(qtbot, make_main_window, study, model)
    model.unlink()

    again = make_main_window()
    lines: list[str] = []
    again.statusBar().messageChanged.connect(lines.append)
    open_and_wait(qtbot, again, [str(study)])
    missing = [line for line in lines if "mine.pt is missing" in line]
    assert len(missing) == 1 and "\n" not in missing[0]
    assert "mine.pt is missing" in again.detection_panel.model_label.text()
    assert not again.detection.has_model
    # Without the model the reader's threshold still holds, and the rest comes back.
    assert again.detection.threshold == pytest.approx(0.12)
    qtbot.waitUntil(lambda: again.review.shown_key() == second, timeout=15_000)
    assert again.review.compare and again.review.iou_threshold == pytest.approx(0.3)
    assert again.review.session_path == session


def test_restart_keeps_the_reviewed_marks_in_the_study_browser(qtbot, make_main_window, study):
    """Images marked with Space and N show their marks in the study browser after a restart
    (before, only marks made in this window showed: a reopened folder looked unread)."""
    win = make_main_window()
    open_and_wait(qtbot, win, [str(study)])
    first, second, third = win.state.images()
    qtbot.keyClick(win.canvas, Key.Key_Space)  # p1 reviewed, on to p2
    qtbot.waitUntil(lambda: win.state.current is second, timeout=15_000)
    qtbot.keyClick(win.canvas, Key.Key_N)  # p2: no opacity (no ground truth: no question)
    qtbot.waitUntil(lambda: win.browser.item_for(second).text(1) == "\u2205", timeout=5_000)
    win.close()

    again = make_main_window()
    open_and_wait(qtbot, again, [str(study)])
    marks = [again.browser.item_for(inst).text(1) for inst in again.state.images()]
    assert marks == ["\u2713", "\u2205", ""]
