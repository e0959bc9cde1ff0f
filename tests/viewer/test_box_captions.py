"""Box captions read on any background and do not cover each other (compare mode)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore

from tests.viewer.conftest import open_and_wait

Key = QtCore.Qt.Key


@pytest.fixture
def window(qtbot, make_main_window, make_dicom, tmp_path: Path):
    path = make_dicom("bright.dcm", pixels=np.full((128, 128), 250, np.uint8), folder=tmp_path)
    win = make_main_window()
    open_and_wait(qtbot, win, [str(path)])
    return win


def _viewport_rect(window, label) -> QtCore.QRectF:
    """Where the caption is painted, in canvas viewport pixels."""
    view = window.canvas
    return label.deviceTransform(view.viewportTransform()).mapRect(label.boundingRect())


@pytest.mark.parametrize(
    ("truth", "prediction"),
    [
        ((10, 10, 50, 50), (10, 10, 48, 52)),  # the same top-left corner
        ((10, 10, 50, 50), (10, 12, 50, 50)),  # the same left edge, almost the same top
    ],
)
def test_matched_pair_captions_do_not_overlap(qtbot, window, truth, prediction):
    key = window.current_key()
    review = window.review.review
    review.set_predictions(key, "test.pt", [(prediction, 0.9)])
    review.add_ground_truth(key, [truth], "labels.csv")
    qtbot.keyClick(window.canvas, Key.Key_G, QtCore.Qt.KeyboardModifier.ShiftModifier)
    assert window.review.compare
    captions = window.review.layers.captions()
    shown = {
        label.textItem.toPlainText(): label for label in captions.values() if label.isVisible()
    }
    assert set(shown) == {"matched", "0.90 matched"}
    a = _viewport_rect(window, shown["matched"])
    b = _viewport_rect(window, shown["0.90 matched"])
    assert a.width() > 0 and b.width() > 0
    assert not a.intersects(b), (a, b)
    for label in shown.values():  # a dark backing, not bare thin text
        assert label.fill.style() != QtCore.Qt.BrushStyle.NoBrush
        assert label.fill.color().alpha() >= 150
