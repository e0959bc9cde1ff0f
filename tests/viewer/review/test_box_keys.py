"""The keyboard contract on real key presses: no key removes ground truth without asking, the
selection never wanders onto ground truth, removed boxes stay visible (struck) until the image
is left, undo shows the image it changes, Delete in the ruler tool changes no box."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from detector.review import BoxKind, BoxStatus, ImageStatus
from tests.viewer.conftest import open_and_wait

Key = QtCore.Qt.Key
Mod = QtCore.Qt.KeyboardModifier
PREDS = ((10, 10, 50, 60, 0.9), (70, 20, 110, 90, 0.6))


@pytest.fixture
def study(make_dicom, tmp_path: Path) -> Path:
    """Two 128 x 128 images in one series."""
    folder = tmp_path / "study"
    for i in (1, 2):
        make_dicom(
            f"p{i}.dcm",
            pixels=np.full((128, 128), 60 * i, np.uint8),
            folder=folder,
            InstanceNumber=i,
            StudyInstanceUID="1.2.3",
            SeriesInstanceUID="1.2.3.4",
        )
    return folder


@pytest.fixture
def window(qtbot, make_main_window, study):
    win = make_main_window()
    open_and_wait(qtbot, win, [str(study)])
    return win


def _setup(window, truth=((5, 70, 40, 120),)) -> tuple[str, list[str], list[str]]:
    """Two predictions and ground truth on the image shown: (key, prediction ids, truth ids)."""
    key = window.current_key()
    review = window.review.review
    review.set_predictions(key, "test.pt", [(b[:4], b[4]) for b in PREDS])
    review.add_ground_truth(key, list(truth), "labels.csv")
    preds = [b.id for b in review.boxes(key, kind=BoxKind.PREDICTION)]
    gts = [b.id for b in review.boxes(key, kind=BoxKind.GROUND_TRUTH)]
    return key, preds, gts


def _press(qtbot, window, key, modifier=Mod.NoModifier) -> None:
    if QtWidgets.QApplication.activeWindow() is not window:  # after a dialog (offscreen)
        window.activateWindow()
        qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is window, timeout=2000)
    qtbot.keyClick(window, key, modifier)


def _status(window, box_id: str) -> BoxStatus:
    return window.review.review.box(box_id).status


def _answer(qtbot, button_text: str) -> list[str]:
    """Click ``button_text`` (a real mouse click) on the next modal dialog; returns its text."""
    seen: list[str] = []

    def click(tries: int = 50) -> None:
        box = QtWidgets.QApplication.activeModalWidget()
        if not isinstance(box, QtWidgets.QMessageBox):
            if tries:
                QtCore.QTimer.singleShot(20, lambda: click(tries - 1))
            return
        seen.append(box.text())
        button = next(b for b in box.buttons() if b.text() == button_text)
        qtbot.mouseClick(button, QtCore.Qt.MouseButton.LeftButton)

    QtCore.QTimer.singleShot(0, click)
    return seen


class TestDelete:
    def test_tab_delete_tab_delete_leaves_ground_truth(self, qtbot, window):
        """The issue's sequence: Tab, Delete, Tab, Delete never removes the ground-truth box."""
        key, (p1, p2), (gt,) = _setup(window)
        layers = window.review.layers
        _press(qtbot, window, Key.Key_Tab)
        assert layers.selected_id == p1
        _press(qtbot, window, Key.Key_Delete)
        assert _status(window, p1) is BoxStatus.REJECTED
        assert layers.selected_id == p2  # the next undecided prediction
        _press(qtbot, window, Key.Key_Tab)
        assert layers.selected_id == gt  # Tab walks on, onto ground truth
        _press(qtbot, window, Key.Key_Delete)
        assert _status(window, gt) is BoxStatus.PROPOSED  # Delete keeps ground truth
        assert "Ctrl+Delete" in window.statusBar().currentMessage()
        assert _status(window, p2) is BoxStatus.PROPOSED

    def test_after_the_last_prediction_the_selection_is_empty(self, qtbot, window):
        """Delete, Delete rejects both predictions; a third Delete has nothing to act on."""
        key, (p1, p2), (gt,) = _setup(window)
        layers = window.review.layers
        _press(qtbot, window, Key.Key_Tab)
        _press(qtbot, window, Key.Key_Delete)
        _press(qtbot, window, Key.Key_Delete)
        assert (_status(window, p1), _status(window, p2)) == (BoxStatus.REJECTED,) * 2
        assert layers.selected_id is None
        _press(qtbot, window, Key.Key_Delete)
        assert _status(window, gt) is BoxStatus.PROPOSED
        assert window.statusBar().currentMessage().startswith("Select a box first")

    def test_removed_boxes_stay_struck_until_the_image_is_left(self, qtbot, window):
        """A rejected prediction stays drawn (dimmed, struck, not Tab-able) on this image."""
        key, (p1, p2), _gt = _setup(window)
        layers = window.review.layers
        _press(qtbot, window, Key.Key_Tab)
        _press(qtbot, window, Key.Key_Delete)
        assert p1 in [v.box_id for v in layers.views()]
        assert layers.is_struck_drawn(p1)
        assert p1 not in layers.visible_ids()
        assert layers.drawn_xyxy("prediction") == [pytest.approx(PREDS[1][:4])]
        layers.select(p1)  # a struck box cannot be selected (nor deleted again)
        assert layers.selected_id is None
        with qtbot.waitSignal(window.image_shown, timeout=20_000):
            qtbot.keyClick(window.canvas, Key.Key_Down)
        with qtbot.waitSignal(window.image_shown, timeout=20_000):
            qtbot.keyClick(window.canvas, Key.Key_Up)
        assert window.current_key() == key
        assert p1 not in [v.box_id for v in layers.views()]

    def test_ctrl_delete_asks_before_removing_ground_truth(self, qtbot, window):
        """Ctrl+Delete on ground truth: Cancel keeps it; confirming removes it (struck); Ctrl+Z."""
        key, _preds, (gt,) = _setup(window)
        layers = window.review.layers
        for _ in range(3):
            _press(qtbot, window, Key.Key_Tab)
        assert layers.selected_id == gt
        seen = _answer(qtbot, "Cancel")
        _press(qtbot, window, Key.Key_Delete, Mod.ControlModifier)
        assert seen and "ground-truth" in seen[0]
        assert _status(window, gt) is BoxStatus.PROPOSED
        seen = _answer(qtbot, "Remove ground truth")
        _press(qtbot, window, Key.Key_Delete, Mod.ControlModifier)
        assert seen
        assert _status(window, gt) is BoxStatus.DELETED
        assert layers.is_struck_drawn(gt)
        assert layers.selected_id is not None  # the next undecided prediction
        assert window.review.review.box(layers.selected_id).kind is BoxKind.PREDICTION
        _press(qtbot, window, Key.Key_Z, Mod.ControlModifier)
        assert _status(window, gt) is BoxStatus.PROPOSED
        assert len(layers.drawn_xyxy("ground_truth")) == 1

    def test_ruler_tool_delete_changes_no_box(self, qtbot, window):
        """M (ruler tool) then Delete: the selected box stays; the help says Shift+Del."""
        key, (p1, _p2), _gt = _setup(window)
        _press(qtbot, window, Key.Key_Tab)
        _press(qtbot, window, Key.Key_M)
        assert "Shift+Del removes rulers" in window.statusBar().currentMessage()
        _press(qtbot, window, Key.Key_Delete)
        assert _status(window, p1) is BoxStatus.PROPOSED
        assert "Shift+Delete removes the rulers" in window.statusBar().currentMessage()


class TestAccept:
    def test_enter_moves_to_the_next_undecided_prediction_then_to_nothing(self, qtbot, window):
        """Enter, Enter accepts both predictions; the selection never lands on ground truth."""
        key, (p1, p2), (gt,) = _setup(window)
        layers = window.review.layers
        _press(qtbot, window, Key.Key_Tab)
        _press(qtbot, window, Key.Key_Return)
        assert _status(window, p1) is BoxStatus.ACCEPTED
        assert layers.selected_id == p2
        _press(qtbot, window, Key.Key_Return)
        assert _status(window, p2) is BoxStatus.ACCEPTED
        assert layers.selected_id is None
        _press(qtbot, window, Key.Key_Return)
        assert window.statusBar().currentMessage().startswith("Select a prediction first")
        assert _status(window, gt) is BoxStatus.PROPOSED

    def test_selection_wraps_to_an_earlier_undecided_prediction(self, qtbot, window):
        """Accepting the last prediction in Tab order selects the first one still undecided."""
        key, (p1, p2), _gt = _setup(window)
        layers = window.review.layers
        _press(qtbot, window, Key.Key_Tab)
        _press(qtbot, window, Key.Key_Tab)
        assert layers.selected_id == p2
        _press(qtbot, window, Key.Key_Return)
        assert layers.selected_id == p1


class TestNoOpacity:
    def test_n_names_the_ground_truth_it_would_remove(self, qtbot, window):
        """N with 2 ground-truth boxes asks; Cancel changes nothing; confirming removes all."""
        key, preds, gts = _setup(window, truth=((5, 70, 40, 120), (60, 95, 100, 125)))
        review = window.review.review
        seen = _answer(qtbot, "Cancel")
        _press(qtbot, window, Key.Key_N)
        assert seen and "2 ground-truth box(es)" in seen[0]
        assert review.image(key).status is not ImageStatus.NO_OPACITY
        assert len(review.boxes(key, active=True)) == 4
        seen = _answer(qtbot, "Remove 2 ground-truth box(es)")
        _press(qtbot, window, Key.Key_N)
        assert seen
        assert review.image(key).status is ImageStatus.NO_OPACITY
        assert review.boxes(key, active=True) == []
        assert all(window.review.layers.is_struck_drawn(i) for i in preds + gts)


class TestUndoShowsTheImage:
    def test_undo_and_redo_go_to_the_image_they_change(self, qtbot, window):
        """N on image 1, Down to image 2; Ctrl+Z shows image 1 and undoes there; so does redo."""
        images = window.state.images()
        first = window.current_key()
        review = window.review.review
        _press(qtbot, window, Key.Key_N)  # no ground truth: no question
        assert review.image(first).status is ImageStatus.NO_OPACITY
        with qtbot.waitSignal(window.image_shown, timeout=20_000):
            qtbot.keyClick(window.canvas, Key.Key_Down)
        assert window.state.current is images[1]
        with qtbot.waitSignal(window.image_shown, timeout=20_000):
            _press(qtbot, window, Key.Key_Z, Mod.ControlModifier)
        assert window.state.current is images[0]
        assert review.image(first).status is not ImageStatus.NO_OPACITY
        assert "on p1.dcm" in window.statusBar().currentMessage()
        with qtbot.waitSignal(window.image_shown, timeout=20_000):
            qtbot.keyClick(window.canvas, Key.Key_Down)
        with qtbot.waitSignal(window.image_shown, timeout=20_000):
            _press(qtbot, window, Key.Key_Y, Mod.ControlModifier)
        assert window.state.current is images[0]
        assert review.image(first).status is ImageStatus.NO_OPACITY

    def test_undo_on_the_image_shown_stays(self, qtbot, window):
        key, (p1, _p2), _gt = _setup(window)
        _press(qtbot, window, Key.Key_Tab)
        _press(qtbot, window, Key.Key_Delete)
        _press(qtbot, window, Key.Key_Z, Mod.ControlModifier)
        assert window.current_key() == key
        assert _status(window, p1) is BoxStatus.PROPOSED
        assert window.statusBar().currentMessage() == "Undone: reject"


def test_shortcuts_list_the_ground_truth_key(qtbot, window):
    from viewer.panels.dialogs import shortcut_rows

    rows = dict(shortcut_rows(window.actions_made.actions))
    assert rows["Remove selected ground-truth box (asks first)"] == "Ctrl+Del, Ctrl+Backspace"
