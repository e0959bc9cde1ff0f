"""The canvas's zoom: what the corner overlay says is what is drawn; 1:1 is one press."""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore

from tests.viewer.conftest import open_and_wait

Key = QtCore.Qt.Key


def drawn_zoom(canvas) -> float:
    """Screen pixels between two image pixels 100 columns apart, divided by 100."""
    item = canvas.image_item
    a = canvas.mapFromScene(item.mapToScene(QtCore.QPointF(0.0, 0.0)))
    b = canvas.mapFromScene(item.mapToScene(QtCore.QPointF(100.0, 0.0)))
    return abs(b.x() - a.x()) / 100.0


def overlay_zoom(canvas) -> float:
    """The "Zoom N%" line of the bottom-left overlay, as a factor."""
    line = next(t for t in canvas.overlay_text("bottom_left").splitlines() if t.startswith("Zoom"))
    return float(line.removeprefix("Zoom ").removesuffix("%")) / 100.0


class TestZoom:
    def test_overlay_says_what_is_drawn_and_a_is_100_percent_in_one_press(
        self, qtbot, make_main_window, make_dicom
    ):
        """The window lays out after the first fit: the overlay follows; one A gives 100%."""
        path = make_dicom(pixels=np.zeros((400, 300), np.uint8))
        window = make_main_window()
        open_and_wait(qtbot, window, [str(path)])
        canvas = window.canvas
        qtbot.wait(50)
        fitted = drawn_zoom(canvas)
        assert abs(fitted - 1.0) > 0.1  # else 1:1 would prove nothing
        assert abs(overlay_zoom(canvas) - fitted) < 0.015
        assert abs(canvas.zoom() - fitted) < 0.015
        qtbot.keyClick(canvas, Key.Key_A)  # one press
        qtbot.wait(20)
        assert abs(drawn_zoom(canvas) - 1.0) < 0.015
        assert overlay_zoom(canvas) == 1.0

    def test_a_after_zooming_in(self, qtbot, make_main_window, make_dicom):
        """Zoom in twice (+), then A: exactly 100%, and the overlay says so."""
        path = make_dicom(pixels=np.zeros((200, 240), np.uint8))
        window = make_main_window()
        open_and_wait(qtbot, window, [str(path)])
        canvas = window.canvas
        qtbot.wait(50)
        qtbot.keyClick(canvas, Key.Key_Plus)
        qtbot.keyClick(canvas, Key.Key_Plus)
        qtbot.wait(50)  # painted
        assert drawn_zoom(canvas) > 1.2
        assert abs(overlay_zoom(canvas) - drawn_zoom(canvas)) < 0.015
        qtbot.keyClick(canvas, Key.Key_A)
        qtbot.wait(20)
        assert abs(drawn_zoom(canvas) - 1.0) < 0.015
        assert overlay_zoom(canvas) == 1.0
