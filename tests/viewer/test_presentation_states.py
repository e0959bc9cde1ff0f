"""Presentation states (GSPS) in the window: listed for their image, applied with S, left with
Shift+S; a broken one is one line in Problems."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from PySide6 import QtCore

from detector.imaging.dicom_write import new_image_dataset, save_dataset
from tests.detector.gsps.test_read import annotation, graphic, gsps, ref_item
from tests.viewer.conftest import open_and_wait


def _folder(tmp_path: Path, *, broken: bool = False) -> tuple[Path, str]:
    """An image (100 rows x 200 columns, window 100/200) and a GSPS that references it."""
    folder = tmp_path / "study"
    folder.mkdir()
    image = new_image_dataset(
        (np.arange(20000) % 251).astype(np.uint8).reshape(100, 200),
        WindowCenter=100,
        WindowWidth=200,
    )
    save_dataset(image, folder / "image.dcm")
    uid = str(image.SOPInstanceUID)
    pr = gsps(ImageRotation=90, ImageHorizontalFlip="Y", ContentLabel="COLLEAGUE")
    pr.ReferencedSeriesSequence[0].ReferencedImageSequence = Sequence([ref_item(uid)])
    voi = Dataset()
    voi.ReferencedImageSequence = Sequence([ref_item(uid)])
    voi.WindowCenter, voi.WindowWidth = 40, 80
    pr.SoftcopyVOILUTSequence = Sequence([voi])
    text = Dataset()
    text.AnchorPointAnnotationUnits = "PIXEL"
    text.UnformattedTextValue = "nodule?"
    text.AnchorPoint = [30, 20]
    text.AnchorPointVisibility = "N"
    notes = annotation(
        [graphic("POLYLINE", [10.0, 10.0, 50.0, 10.0, 50.0, 40.0, 10.0, 10.0])], [text]
    )
    notes[0].ReferencedImageSequence = Sequence([ref_item(uid)])
    pr.GraphicAnnotationSequence = notes
    if broken:
        pr.ImageRotation = 45
    pr.save_as(folder / "pr.dcm", enforce_file_format=True)
    return folder, uid


def _key(qtbot, window, key, shift: bool = False) -> None:
    mods = (
        QtCore.Qt.KeyboardModifier.ShiftModifier if shift else QtCore.Qt.KeyboardModifier.NoModifier
    )
    qtbot.keyClick(window.canvas, key, mods)


def _window(window) -> tuple[float, float]:
    w = window.state.effective_window
    return (w.center, w.width)


def test_s_applies_the_state_and_shift_s_returns_to_the_image(qtbot, make_main_window, tmp_path):
    """The state's window, rotation + flip and annotations are applied with S; Shift+S gives the
    image's own window, no rotation and no annotations."""
    folder, uid = _folder(tmp_path)
    window = make_main_window()
    open_and_wait(qtbot, window, [str(folder)])
    # One image in the browser, no problem listed for the presentation state.
    assert [i.name for i in window.state.images()] == ["image.dcm"]
    assert window.state.problems == []
    assert _window(window) == (100.0, 200.0)

    _key(qtbot, window, QtCore.Qt.Key.Key_S)
    assert _window(window) == (40.0, 80.0)
    # 90 degrees clockwise, then the flip (PS3.3 C.10.6): the canvas's own order.
    assert (window.canvas.rotation, window.canvas.flip_h, window.canvas.flip_v) == (1, True, False)
    layer = window.presentations.layer
    assert layer.texts == ["nodule?"]
    (path,) = layer.paths
    assert path.parentItem() is window.canvas.image_item  # follows zoom and rotation
    assert path.path().boundingRect() == QtCore.QRectF(10, 10, 40, 30)

    _key(qtbot, window, QtCore.Qt.Key.Key_S, shift=True)
    assert _window(window) == (100.0, 200.0)
    assert (window.canvas.rotation, window.canvas.flip_h) == (0, False)
    assert layer.items == []


def test_view_menu_lists_the_state_of_the_image(qtbot, make_main_window, tmp_path):
    folder, _uid = _folder(tmp_path)
    window = make_main_window()
    open_and_wait(qtbot, window, [str(folder)])
    menu = window.presentations.menu
    menu.aboutToShow.emit()
    texts = [a.text() for a in menu.actions()]
    assert "COLLEAGUE \u2014 left base" in texts


def test_a_broken_state_is_one_problem_line(qtbot, make_main_window, tmp_path):
    folder, _uid = _folder(tmp_path, broken=True)
    window = make_main_window()
    open_and_wait(qtbot, window, [str(folder)])
    _key(qtbot, window, QtCore.Qt.Key.Key_S)
    assert _window(window) == (100.0, 200.0)  # nothing applied
    assert [str(p) for p in window.state.problems] == [
        f"{folder / 'pr.dcm'}: (0070,0042) Image Rotation is 45, not 0, 90, 180 or 270"
    ]
