"""SRs opened with their image: a layer of their own (Shift+F), import as ground truth
(Shift+I, one undo step, existing ground truth kept); SRs are never listed as broken images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from PySide6 import QtCore, QtWidgets

from detector.review import BoxKind
from detector.sr.write import SrAuthor, SrBox, write_sr
from tests.viewer.conftest import open_and_wait
from viewer.canvas.sr_layer import SR_COLOUR

Key = QtCore.Qt.Key
Mod = QtCore.Qt.KeyboardModifier
SR_BOXES = ((10.0, 12.0, 30.0, 40.0), (60.5, 20.25, 25.0, 50.0))


@pytest.fixture
def folder(make_dicom, tmp_path: Path) -> Path:
    """One 128 x 128 image, an SR of two boxes on it, and a truncated SR."""
    root = tmp_path / "study"
    image = make_dicom("p1.dcm", pixels=np.full((128, 128), 90, np.uint8), folder=root)
    header = pydicom.dcmread(image, stop_before_pixels=True)
    boxes = [SrBox(SR_BOXES[0], 0.8, "model"), SrBox(SR_BOXES[1], None, "reviewer")]
    good = write_sr(header, boxes, SrAuthor("tiny.pt", "1", "Doe^Jane"), root)
    data = good.read_bytes()
    (root / "cut.sr.dcm").write_bytes(data[: len(data) // 2])
    return root


@pytest.fixture
def window(qtbot, make_main_window, folder):
    win = make_main_window()
    open_and_wait(qtbot, win, [str(folder)])
    layer = win.sr_findings.layer
    qtbot.waitUntil(
        lambda: len(layer.shown_rects()) == 2 and not win.sr_findings.is_reading, timeout=10_000
    )
    return win


def _press(qtbot, window, key, modifier=Mod.NoModifier) -> None:
    if QtWidgets.QApplication.activeWindow() is not window:
        window.activateWindow()
        qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is window, timeout=2000)
    qtbot.keyClick(window, key, modifier)


def _truth(window) -> list[tuple[float, ...]]:
    key = window.current_key()
    return sorted(b.xywh for b in window.review.review.boxes(key, kind=BoxKind.GROUND_TRUTH))


def test_sr_boxes_drawn_and_toggled(qtbot, window, folder: Path) -> None:
    """The SR's boxes lie over its image; Shift+F hides and shows them; the legend says so."""
    layer = window.sr_findings.layer
    shown = sorted(layer.shown_rects())
    for got, want in zip(shown, sorted(SR_BOXES), strict=True):
        assert got == pytest.approx(want, abs=0.5)
    legend = window.detection_panel.legend_label.text()
    assert f"color:{SR_COLOUR}'>\u25a0" in legend and "SR findings (Shift+F)" in legend
    _press(qtbot, window, Key.Key_F, Mod.ShiftModifier)
    assert layer.shown_rects() == []
    assert f"color:{SR_COLOUR}" not in window.detection_panel.legend_label.text()
    _press(qtbot, window, Key.Key_F, Mod.ShiftModifier)
    assert len(layer.shown_rects()) == 2


def test_sr_files_are_not_broken_images(window, folder: Path) -> None:
    """The good SR is no Problem; the truncated one is one line naming it."""
    problems = {Path(p.path).name: p.reason for p in window.state.problems}
    good = [p.name for p in folder.glob("*.sr.dcm") if p.name != "cut.sr.dcm"]
    assert good and good[0] not in problems
    assert "cut.sr.dcm" in problems
    assert "\n" not in problems["cut.sr.dcm"]
    assert [Path(i.path).name for i in window.state.images()] == ["p1.dcm"]


def test_import_adds_ground_truth_and_undoes(qtbot, window) -> None:
    """Shift+I adds the SR boxes as ground truth beside the existing box; Ctrl+Z takes them
    back, the existing box stays."""
    key = window.current_key()
    window.review.review.add_ground_truth(key, [(100, 100, 120, 120)], "labels.csv")
    _press(qtbot, window, Key.Key_I, Mod.ShiftModifier)
    truth = _truth(window)
    assert len(truth) == 3
    assert truth[-1] == (100, 100, 20, 20)
    for got, want in zip(truth[:2], sorted(SR_BOXES), strict=True):
        assert got == pytest.approx(want, abs=0.5)
    _press(qtbot, window, Key.Key_I, Mod.ShiftModifier)  # again: nothing twice
    assert len(_truth(window)) == 3
    _press(qtbot, window, Key.Key_Z, Mod.ControlModifier)
    assert _truth(window) == [(100, 100, 20, 20)]
