"""The Detection dock a reader sees: "Loading model..." at once, and the controls visible at
1366x768 with the model card folded into one line (its details behind a toggle)."""

from __future__ import annotations

import pytest
from PySide6 import QtCore, QtWidgets

from tests.viewer.conftest import open_and_wait
from viewer.platform.user_folders import models_dir

Key = QtCore.Qt.Key
Mod = QtCore.Qt.KeyboardModifier


def test_shift_d_without_a_model_says_loading_at_once(qtbot, make_main_window, make_dicom):
    """Shift+D loads the default model: the dock says "Loading model" before it is ready,
    never "No model loaded" / "idle"."""
    window = make_main_window()
    open_and_wait(qtbot, window, [str(make_dicom("a.dcm"))])
    panel = window.detection_panel
    with qtbot.waitSignal(window.detection.result_ready, timeout=60_000):
        qtbot.keyClick(window.canvas, Key.Key_D, Mod.ShiftModifier)
        text = panel.model_label.text()
        assert "Loading model real.pt" in text and "No model loaded" not in text
        assert panel.progress.format().startswith("Loading model")
        assert panel.progress.format() != "idle"
    assert "real.pt" in panel.model_label.text() and "Loading" not in panel.model_label.text()
    assert panel.progress.format() == "1 / 1"


def _inside_viewport(widget: QtWidgets.QWidget, scroll: QtWidgets.QScrollArea) -> bool:
    """The widget is shown and wholly inside the part of the dock the reader sees."""
    viewport = scroll.viewport()
    top_left = widget.mapTo(viewport, QtCore.QPoint(0, 0))
    rect = QtCore.QRect(top_left, widget.size())
    return widget.isVisible() and viewport.rect().contains(rect)


@pytest.mark.parametrize("size", [(1366, 768), (1600, 1000)])
def test_controls_stay_visible_with_a_model_card(qtbot, make_main_window, make_dicom, size):
    """With the demo model's card loaded, Run all, progress, the slider, the counts, the legend
    and "Detect automatically" lie inside the visible dock; Details opens the full card."""
    window = make_main_window()
    window.resize(*size)
    open_and_wait(qtbot, window, [str(make_dicom("a.dcm"))])
    with qtbot.waitSignal(window.detection.model_ready, timeout=60_000):
        window.load_model(str(models_dir() / "demo.pt"))
    panel = window.detection_panel
    panel.show_counts(3, 12)
    qtbot.waitUntil(lambda: window.size() == QtCore.QSize(*size), timeout=5_000)
    qtbot.wait(50)  # layouts settle
    scroll = window.detection_dock.widget()
    assert isinstance(scroll, QtWidgets.QScrollArea)
    assert panel.demo_label.isVisible()
    for widget in (
        panel.run_all_button,
        panel.progress,
        panel.slider,
        panel.counts_label,
        panel.legend_label,
        panel.auto_check,
        panel.details_button,
    ):
        assert _inside_viewport(widget, scroll), widget.objectName() or widget.text()
    assert panel.counts_label.text() == "3 of 12 predictions shown"
    assert not panel.details_label.isVisible()
    qtbot.mouseClick(panel.details_button, QtCore.Qt.MouseButton.LeftButton)
    assert panel.details_label.isVisible()
    assert "Training data" in panel.details_label.text()
