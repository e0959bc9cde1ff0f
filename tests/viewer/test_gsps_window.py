"""A presentation state in the real window: its VOI LUT is what the screen shows, and R (reset
window and view) leaves the state, annotations included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from PySide6 import QtCore

from detector.imaging.dicom_write import new_image_dataset, save_dataset
from tests.detector.gsps.test_read import annotation, graphic, gsps, ref_item
from tests.viewer.conftest import open_and_wait


def _folder(tmp_path: Path) -> Path:
    """A 100 x 200 image (stored values 0..250, window 100/200) and a GSPS with a VOI LUT that
    maps stored values 0..3 to 0, 85, 170, 255 of 8 bits (and clamps above) and one polyline."""
    folder = tmp_path / "study"
    folder.mkdir()
    image = new_image_dataset(
        (np.arange(20000) % 251).astype(np.uint8).reshape(100, 200),
        WindowCenter=100,
        WindowWidth=200,
    )
    save_dataset(image, folder / "image.dcm")
    uid = str(image.SOPInstanceUID)
    pr = gsps(ContentLabel="LUT")
    pr.ReferencedSeriesSequence[0].ReferencedImageSequence = Sequence([ref_item(uid)])
    lut = Dataset()
    lut.LUTDescriptor = [4, 0, 8]
    lut.add_new(0x00283006, "US", [0, 85, 170, 255])
    lut.LUTExplanation = "STEPS"
    voi = Dataset()
    voi.ReferencedImageSequence = Sequence([ref_item(uid)])
    voi.VOILUTSequence = Sequence([lut])
    pr.SoftcopyVOILUTSequence = Sequence([voi])
    notes = annotation([graphic("POLYLINE", [10.0, 10.0, 50.0, 10.0, 50.0, 40.0])])
    notes[0].ReferencedImageSequence = Sequence([ref_item(uid)])
    pr.GraphicAnnotationSequence = notes
    pr.ImageRotation = 90
    pr.save_as(folder / "pr.dcm", enforce_file_format=True)
    return folder


def _key(qtbot, window, key) -> None:
    qtbot.keyClick(window.canvas, key)


def test_the_states_voi_lut_is_what_the_window_shows(qtbot, make_main_window, tmp_path):
    window = make_main_window()
    open_and_wait(qtbot, window, [str(_folder(tmp_path))])
    _key(qtbot, window, QtCore.Qt.Key.Key_S)
    shown = window.state.render()
    # First row: stored 0, 1, 2, 3, 4, ... -> 0, 85, 170, 255, 255 (clamped to the last entry).
    assert shown[0, :6].tolist() == [0, 85, 170, 255, 255, 255]
    assert window.state.effective_window.label() == "STEPS"
    # Shift+S: the image's own window (100/200): stored 0 -> 0, stored 4 -> 5.
    _key(qtbot, window, QtCore.Qt.Key.Key_S)  # S again: still the only state
    qtbot.keyClick(window.canvas, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ShiftModifier)
    assert window.state.render()[0, :5].tolist() == [0, 1, 3, 4, 5]


def test_r_resets_the_state_and_its_annotations(qtbot, make_main_window, tmp_path):
    window = make_main_window()
    open_and_wait(qtbot, window, [str(_folder(tmp_path))])
    _key(qtbot, window, QtCore.Qt.Key.Key_S)
    layer = window.presentations.layer
    assert len(layer.paths) == 1 and window.canvas.rotation == 1
    _key(qtbot, window, QtCore.Qt.Key.Key_R)
    assert layer.items == []
    assert window.presentations.active is None
    assert window.canvas.rotation == 0
    assert (window.state.effective_window.center, window.state.effective_window.width) == (
        100.0,
        200.0,
    )
    # S applies it again afterwards.
    _key(qtbot, window, QtCore.Qt.Key.Key_S)
    assert len(layer.paths) == 1
