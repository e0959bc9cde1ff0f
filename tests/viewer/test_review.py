"""The review workflow in the window: the keyboard contract on real key presses, the canvas
layers, undo/redo and the session file written through."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtTest

from detector.review import BoxKind, BoxStatus, ImageStatus
from tests.viewer.conftest import open_and_wait
from viewer.review_controller import key_for

Key = QtCore.Qt.Key
Mod = QtCore.Qt.KeyboardModifier


@pytest.fixture
def study(make_dicom, tmp_path: Path) -> Path:
    """Three 128 x 128 images in one series."""
    folder = tmp_path / "study"
    for i in range(1, 4):
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


def _predict(window, boxes=((10, 10, 50, 60, 0.9), (70, 20, 110, 90, 0.6))) -> str:
    """Give the current image two model predictions (as a detector run would)."""
    key = window.current_key()
    window.review.review.set_predictions(key, "test.pt", [(b[:4], b[4]) for b in boxes])
    return key


def _press(qtbot, window, key, modifier=Mod.NoModifier) -> None:
    qtbot.keyClick(window, key, modifier)


def _kinds(window, key):
    return sorted(
        (b.kind.value, b.status.value) for b in window.review.review.boxes(key, active=True)
    )


def _drag(qtbot, widget, start: QtCore.QPoint, end: QtCore.QPoint) -> None:
    """A left-button drag with intermediate moves (what pyqtgraph needs to see a drag)."""
    left = QtCore.Qt.MouseButton.LeftButton
    QtTest.QTest.mousePress(widget, left, Mod.NoModifier, start)
    for t in (0.25, 0.5, 0.75, 1.0):
        p = QtCore.QPoint(
            round(start.x() + t * (end.x() - start.x())),
            round(start.y() + t * (end.y() - start.y())),
        )
        QtTest.QTest.mouseMove(widget, p)
        qtbot.wait(10)
    QtTest.QTest.mouseRelease(widget, left, Mod.NoModifier, end)


def _view_point(window, x: float, y: float) -> QtCore.QPoint:
    """Image pixel (x, y) -> canvas viewport pixel."""
    canvas = window.canvas
    scene = canvas.image_item.mapToScene(QtCore.QPointF(x, y))
    return canvas.mapFromScene(scene)


class TestKeyboardContract:
    def test_tab_enter_delete_and_undo_redo(self, qtbot, window):
        """Tab selects, Enter accepts, Delete rejects; Ctrl+Z / Ctrl+Shift+Z / Ctrl+Y."""
        key = _predict(window)
        layers = window.review.layers
        assert len(layers.drawn_xyxy("prediction")) == 2
        _press(qtbot, window, Key.Key_Tab)
        first = layers.selected_id
        assert first is not None
        _press(qtbot, window, Key.Key_Return)
        accepted = window.review.review.box(first)
        assert accepted.kind is BoxKind.REVIEWER and accepted.status is BoxStatus.ACCEPTED
        assert accepted.score is not None and accepted.origin == "test.pt"
        assert len(layers.drawn_xyxy("reviewer")) == 1
        # The other prediction: Tab to it, Delete rejects it.
        while window.review.review.box(layers.selected_id).kind is not BoxKind.PREDICTION:
            _press(qtbot, window, Key.Key_Tab)
        other = layers.selected_id
        _press(qtbot, window, Key.Key_Delete)
        assert window.review.review.box(other).status is BoxStatus.REJECTED
        assert layers.drawn_xyxy("prediction") == []
        assert _kinds(window, key) == [("reviewer", "accepted")]
        _press(qtbot, window, Key.Key_Z, Mod.ControlModifier)  # undo the reject
        assert window.review.review.box(other).status is BoxStatus.PROPOSED
        _press(qtbot, window, Key.Key_Z, Mod.ControlModifier)  # undo the accept
        assert _kinds(window, key) == [("prediction", "proposed")] * 2
        assert len(layers.drawn_xyxy("prediction")) == 2
        _press(qtbot, window, Key.Key_Z, Mod.ControlModifier | Mod.ShiftModifier)  # redo
        assert window.review.review.box(first).status is BoxStatus.ACCEPTED
        _press(qtbot, window, Key.Key_Y, Mod.ControlModifier)  # redo
        assert window.review.review.box(other).status is BoxStatus.REJECTED

    def test_shift_enter_accepts_visible_predictions(self, qtbot, window):
        """Shift+Enter accepts what is shown: predictions under the threshold stay proposed."""
        key = _predict(window)
        window.detection.set_threshold(0.7)
        assert len(window.review.layers.drawn_xyxy("prediction")) == 1
        _press(qtbot, window, Key.Key_Return, Mod.ShiftModifier)
        assert _kinds(window, key) == [("prediction", "proposed"), ("reviewer", "accepted")]
        _press(qtbot, window, Key.Key_Z, Mod.ControlModifier)
        assert _kinds(window, key) == [("prediction", "proposed")] * 2

    def test_b_then_drag_draws_a_reviewer_box(self, qtbot, window):
        """B arms the box tool; one left-drag draws a green box; Backspace deletes it."""
        key = window.current_key()
        viewport = window.canvas.viewport()
        _press(qtbot, window, Key.Key_B)
        assert window.canvas.tool == "box"
        _drag(qtbot, viewport, _view_point(window, 20, 30), _view_point(window, 80, 100))
        (box,) = window.review.review.boxes(key, active=True)
        assert box.kind is BoxKind.REVIEWER and box.status is BoxStatus.ADDED
        x0, y0, x1, y1 = box.xyxy
        assert (x0, y0, x1, y1) == pytest.approx((20, 30, 80, 100), abs=2)
        assert window.canvas.tool == "pan"  # one box per B
        assert window.review.layers.selected_id == box.id
        _press(qtbot, window, Key.Key_Backspace)
        assert window.review.review.boxes(key, active=True) == []
        _press(qtbot, window, Key.Key_Z, Mod.ControlModifier)
        assert len(window.review.review.boxes(key, active=True)) == 1

    def test_drag_moves_a_box_in_one_undo_step(self, qtbot, window):
        """Dragging a prediction moves it (it becomes an edited reviewer box); undo restores."""
        key = _predict(window, ((20, 20, 60, 60, 0.9),))
        (pred,) = window.review.review.boxes(key)
        viewport = window.canvas.viewport()
        _drag(qtbot, viewport, _view_point(window, 40, 40), _view_point(window, 70, 50))
        moved = window.review.review.box(pred.id)
        assert moved.kind is BoxKind.REVIEWER and moved.status is BoxStatus.EDITED
        assert moved.xyxy == pytest.approx((50, 30, 90, 70), abs=2)
        assert window.review.layers.drawn_xyxy("reviewer") == [pytest.approx(moved.xyxy)]
        _press(qtbot, window, Key.Key_Z, Mod.ControlModifier)
        assert window.review.review.box(pred.id).xyxy == (20, 20, 60, 60)
        assert window.review.layers.drawn_xyxy("prediction") == [pytest.approx((20, 20, 60, 60))]

    def test_g_and_p_toggle_layers(self, qtbot, window):
        key = _predict(window)
        window.review.review.add_ground_truth(key, [(5, 5, 40, 40)], "labels.csv")
        layers = window.review.layers
        assert len(layers.drawn_xyxy("ground_truth")) == 1
        _press(qtbot, window, Key.Key_G)
        assert layers.drawn_xyxy("ground_truth") == []
        _press(qtbot, window, Key.Key_P)
        assert layers.drawn_xyxy("prediction") == []
        assert "#777777" in window.detection_panel.legend_label.text()
        _press(qtbot, window, Key.Key_G)
        _press(qtbot, window, Key.Key_P)
        assert len(layers.drawn_xyxy("ground_truth")) == 1
        assert len(layers.drawn_xyxy("prediction")) == 2

    def test_n_and_space(self, qtbot, window):
        """N: no opacity (predictions rejected); Space: reviewed, next unreviewed image."""
        images = window.state.images()
        first_key = _predict(window)
        _press(qtbot, window, Key.Key_N)
        review = window.review.review
        assert review.image(first_key).status is ImageStatus.NO_OPACITY
        assert review.boxes(first_key, active=True) == []
        with qtbot.waitSignal(window.image_shown, timeout=20_000):
            _press(qtbot, window, Key.Key_Space)
        assert window.state.current is images[1]
        with qtbot.waitSignal(window.image_shown, timeout=20_000):
            _press(qtbot, window, Key.Key_Space)
        assert review.image(key_for(images[1])).status is ImageStatus.REVIEWED
        assert window.state.current is images[2]
        assert window.review.review_progress() == (2, 3)
        assert window.browser.item_for(images[0]).text(1) == "\u2205"
        assert window.browser.item_for(images[1]).text(1) == "\u2713"


class TestSession:
    def test_edits_are_restored_when_the_folder_is_reopened(self, qtbot, make_main_window, study):
        """Every edit is in the folder's session file: a new window shows it again."""
        win = make_main_window()
        open_and_wait(qtbot, win, [str(study)])
        key = _predict(win)
        _press(qtbot, win, Key.Key_Tab)
        _press(qtbot, win, Key.Key_Return)
        session = win.review.session_path
        assert session and Path(session).is_file()
        expected = sorted((b.kind, b.status, b.xyxy) for b in win.review.review.boxes(key))
        win.close()

        again = make_main_window()
        open_and_wait(qtbot, again, [str(study)])
        assert again.review.session_path == session
        restored = sorted((b.kind, b.status, b.xyxy) for b in again.review.review.boxes(key))
        assert restored == expected
        assert len(again.review.layers.drawn_xyxy("reviewer")) == 1
