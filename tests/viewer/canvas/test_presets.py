"""Window presets and drag maths."""

from __future__ import annotations

import numpy as np
import pytest

from detector.imaging.decode import load_image
from detector.imaging.lut import Window
from viewer.canvas.presets import drag_window, preset_window, window_text


class TestPresetWindow:
    def test_ct_uses_hounsfield(self, make_dicom):
        """CT gets the classic HU lung window."""
        pixels = np.full((32, 32), 1000, np.uint16)
        image = load_image(
            make_dicom(pixels=pixels, Modality="CT", RescaleIntercept=-1024, RescaleSlope=1)
        )
        window = preset_window(image, "Lung")
        assert (window.center, window.width) == (-600.0, 1500.0)

    def test_radiograph_lung_is_dark_end_mirrored_for_monochrome1(self, make_dicom):
        """For CR the lung preset covers the low values, or the high ones for MONOCHROME1."""
        pixels = np.tile(np.arange(256, dtype=np.uint8), (64, 1))
        m2 = preset_window(load_image(make_dicom("a.dcm", pixels)), "Lung")
        m1 = preset_window(
            load_image(make_dicom("b.dcm", pixels, photometric="MONOCHROME1")), "Lung"
        )
        assert m2.center < 128 < m1.center
        assert m1.width == pytest.approx(m2.width)

    def test_header_without_windows_falls_back_to_auto(self, make_dicom):
        """No header window: key 1 gives the automatic window."""
        image = load_image(make_dicom())
        assert preset_window(image, "Header").kind == "auto"

    def test_unknown_name(self, make_dicom):
        """A typo in a preset name is an error naming it."""
        with pytest.raises(ValueError, match="unknown window preset 'Lungs'"):
            preset_window(load_image(make_dicom()), "Lungs")


class TestDragWindow:
    def test_right_widens_down_raises_level(self):
        """Horizontal drag changes the width, vertical drag the level."""
        start = Window(100.0, 200.0)
        wider = drag_window(start, 60, 0, span=600, pixels=600)
        assert (wider.center, wider.width) == (100.0, 260.0)
        lower = drag_window(start, 0, -30, span=600, pixels=600)
        assert (lower.center, lower.width) == (70.0, 200.0)

    def test_width_never_below_one_step(self):
        """Dragging far left keeps a positive width."""
        assert drag_window(Window(100.0, 10.0), -5000, 0, span=600).width > 0


def test_window_text():
    """The readout shows width then level."""
    assert window_text(Window(40.0, 400.0)) == "W 400 L 40"
