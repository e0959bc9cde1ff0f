"""Overlay planes in the window: drawn over the image, toggled with Shift+O, listed in Metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6 import QtCore

from detector.imaging.dicom_write import new_image_dataset, save_dataset
from tests.detector.imaging.test_overlays import L_SHAPE, add_plane, high_bit_file
from tests.viewer.conftest import open_and_wait

#: The image is 6 rows x 8 columns; the "L" sits at 1-based origin (2, 4).
EXPECTED = np.zeros((6, 8), dtype=bool)
EXPECTED[1:4, 3] = True
EXPECTED[3, 3:6] = True


def _with_plane(tmp_path: Path) -> Path:
    ds = new_image_dataset(np.arange(48, dtype=np.uint8).reshape(6, 8) * 5)
    add_plane(ds, L_SHAPE, origin=(2, 4), kind="G", description="arrow marker")
    path = tmp_path / "overlay.dcm"
    save_dataset(ds, path)
    return path


def _without_plane(tmp_path: Path) -> Path:
    path = tmp_path / "plain.dcm"
    save_dataset(new_image_dataset(np.full((6, 8), 90, np.uint8)), path)
    return path


def _shift_o(qtbot, window) -> None:
    qtbot.keyClick(window.canvas, QtCore.Qt.Key.Key_O, QtCore.Qt.KeyboardModifier.ShiftModifier)


def test_overlay_drawn_in_image_pixels_and_toggled(qtbot, make_main_window, tmp_path):
    window = make_main_window()
    open_and_wait(qtbot, window, [str(_with_plane(tmp_path))])
    layer = window.display.overlay_layer
    # A child of the image item: it follows zoom, rotation and flips.
    assert layer.item.parentItem() is window.canvas.image_item
    assert layer.item.isVisible()
    np.testing.assert_array_equal(layer.shown_mask, EXPECTED)
    rgba = layer.item.image
    assert rgba.shape == (6, 8, 4)
    assert (rgba[EXPECTED] == 255).all()
    assert (rgba[~EXPECTED][:, 3] == 0).all()

    _shift_o(qtbot, window)
    assert not layer.item.isVisible()
    assert not window.display.act_overlay_planes.isChecked()
    _shift_o(qtbot, window)
    assert layer.item.isVisible()
    np.testing.assert_array_equal(layer.shown_mask, EXPECTED)
    # Plain O still toggles the corner texts, not the planes.
    qtbot.keyClick(window.canvas, QtCore.Qt.Key.Key_O)
    assert layer.item.isVisible()


def test_metadata_dock_lists_the_plane(qtbot, make_main_window, tmp_path):
    window = make_main_window()
    open_and_wait(qtbot, window, [str(_with_plane(tmp_path))])
    assert window.metadata.overlay_lines() == [
        "6000, graphics (G), 3 x 3, origin 2, 4, arrow marker"
    ]
    window.metadata.filter_edit.setText("arrow marker")
    assert "Overlay plane" in window.metadata.visible_keywords()


def test_image_without_overlays_shows_none(qtbot, make_main_window, tmp_path):
    window = make_main_window()
    open_and_wait(qtbot, window, [str(_without_plane(tmp_path))])
    layer = window.display.overlay_layer
    assert not layer.item.isVisible() and layer.shown_mask is None
    assert window.metadata.overlay_lines() == []
    _shift_o(qtbot, window)
    _shift_o(qtbot, window)
    assert not layer.item.isVisible()
    assert window.canvas.has_image


def test_overlay_per_frame(qtbot, make_main_window, tmp_path):
    """A plane on frame 2 of a two-frame image is drawn on frame 2 only."""
    ds = new_image_dataset(np.full((2, 6, 8), 60, np.uint8))
    add_plane(ds, L_SHAPE[None], origin=(2, 4), frames=1, frame_origin=2)
    path = tmp_path / "frames.dcm"
    save_dataset(ds, path)
    window = make_main_window()
    open_and_wait(qtbot, window, [str(path)])
    layer = window.display.overlay_layer
    assert layer.shown_mask is None
    with qtbot.waitSignal(window.state.image_changed, timeout=10_000):
        window.state.set_frame(1)
    np.testing.assert_array_equal(layer.shown_mask, EXPECTED)


def _high_bit_two_frames(tmp_path: Path) -> Path:
    """Two 6 x 8 frames, 12 bits stored in 16; frame 1's overlay bits are the "L" at (2, 4),
    frame 2's a single pixel at row 6, column 8 (bit 15, no Overlay Data)."""
    values = np.full((2, 6, 8), 2000, np.uint16)
    bits = np.zeros((2, 6, 8), dtype=bool)
    bits[0] = EXPECTED
    bits[1, 5, 7] = True
    path = tmp_path / "highbit.dcm"
    save_dataset(high_bit_file(values, bits, WindowCenter=2048, WindowWidth=4096), path)
    return path


def test_high_bit_overlay_drawn_and_follows_the_frame(qtbot, make_main_window, tmp_path):
    """An old file's overlay in bit 15 is drawn; Right shows frame 2 with frame 2's bits."""
    window = make_main_window()
    open_and_wait(qtbot, window, [str(_high_bit_two_frames(tmp_path))])
    layer = window.display.overlay_layer
    np.testing.assert_array_equal(layer.shown_mask, EXPECTED)
    assert window.metadata.overlay_lines() == [
        "6000, graphics (G), 6 x 8, origin 1, 1, frames 1-2, in pixel data bit"
    ]
    qtbot.mouseClick(window.canvas, QtCore.Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(window.state.image_changed, timeout=10_000):
        qtbot.keyClick(window.canvas, QtCore.Qt.Key.Key_Right)
    assert window.state.frame == 1
    second = np.zeros((6, 8), dtype=bool)
    second[5, 7] = True
    np.testing.assert_array_equal(layer.shown_mask, second)
    _shift_o(qtbot, window)
    assert not layer.item.isVisible()
    _shift_o(qtbot, window)
    with qtbot.waitSignal(window.state.image_changed, timeout=10_000):
        qtbot.keyClick(window.canvas, QtCore.Qt.Key.Key_Left)
    np.testing.assert_array_equal(layer.shown_mask, EXPECTED)


def test_roi_plane_dims_outside_its_region(qtbot, make_main_window, tmp_path):
    """An ROI plane: clear over its region, black at 15/16 over the rest of its rectangle."""
    ds = new_image_dataset(np.full((6, 8), 200, np.uint8))
    add_plane(ds, L_SHAPE, origin=(2, 4), kind="R")
    path = tmp_path / "roi.dcm"
    save_dataset(ds, path)
    window = make_main_window()
    open_and_wait(qtbot, window, [str(path)])
    layer = window.display.overlay_layer
    rect = np.zeros((6, 8), dtype=bool)
    rect[1:4, 3:6] = True
    dimmed = rect & ~EXPECTED
    np.testing.assert_array_equal(layer.shown_mask, dimmed)
    rgba = layer.item.image
    assert (rgba[dimmed] == [0, 0, 0, 239]).all()  # 200 shows as 200 / 16 = 12.5
    assert (rgba[~dimmed][:, 3] == 0).all()
    assert window.metadata.overlay_lines() == ["6000, ROI (R), 3 x 3, origin 2, 4"]
    _shift_o(qtbot, window)
    assert not layer.item.isVisible()
