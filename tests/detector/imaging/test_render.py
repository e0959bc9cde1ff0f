"""Rendering: presentation (MONOCHROME1, INVERSE, invert), re-windowing, enhancement, resize."""

from __future__ import annotations

import numpy as np
import pytest

from detector.imaging.decode import load_image
from detector.imaging.lut import Window
from detector.imaging.render import display_pixels, render, resize_display
from tests.detector.imaging.pixels import ramp


class TestPresentation:
    def test_monochrome2_full_window_is_identity(self, make_dicom) -> None:
        """An 8-bit ramp windowed over 0..255 displays as itself."""
        path = make_dicom(pixels=ramp(), WindowCenter=128, WindowWidth=256)
        display = render(load_image(path))
        assert display.dtype == np.uint8
        np.testing.assert_array_equal(display, ramp())

    def test_monochrome1_is_shown_inverted(self, make_dicom) -> None:
        """MONOCHROME1: the lowest stored value is displayed white."""
        path = make_dicom(
            pixels=ramp(), photometric="MONOCHROME1", WindowCenter=128, WindowWidth=256
        )
        image = load_image(path)
        assert image.invert_default
        display = render(image)
        np.testing.assert_array_equal(display, 255 - ramp())
        np.testing.assert_array_equal(render(image, invert=False), ramp())

    def test_presentation_lut_inverse_is_honoured(self, make_dicom) -> None:
        """Presentation LUT Shape INVERSE on MONOCHROME2 inverts the display."""
        path = make_dicom(
            pixels=ramp(), WindowCenter=128, WindowWidth=256, PresentationLUTShape="INVERSE"
        )
        assert render(load_image(path))[0, 0] == 255

    def test_user_invert_toggles(self, make_dicom) -> None:
        """invert=True inverts a MONOCHROME2 image."""
        path = make_dicom(pixels=ramp(), WindowCenter=128, WindowWidth=256)
        np.testing.assert_array_equal(render(load_image(path), invert=True), 255 - ramp())


class TestRender:
    def test_rewindowing_uses_cached_stored_array(self, make_dicom) -> None:
        """Changing the window re-renders from the same decoded array."""
        image = load_image(make_dicom(pixels=ramp(4, 256, np.uint16)))
        a = render(image, Window(64, 32, "LINEAR_EXACT"))
        b = render(image, Window(192, 32, "LINEAR_EXACT"))
        assert a[0, 64] == 128 and b[0, 64] == 0 and b[0, 192] == 128
        assert a[0, 48] == 0 and a[0, 80] == 255

    @pytest.mark.parametrize("method", ["hist", "clahe"])
    def test_equalization_spreads_a_narrow_histogram(self, make_dicom, method) -> None:
        """Histogram equalization / CLAHE widen a low-contrast image."""
        rng = np.random.default_rng(2)
        low = rng.integers(100, 110, (64, 64)).astype(np.uint8)
        image = load_image(make_dicom(pixels=low, WindowCenter=128, WindowWidth=256))
        plain = render(image)
        eq = render(image, equalize=method)
        assert eq.dtype == np.uint8 and eq.shape == plain.shape
        assert np.ptp(eq) > 3 * np.ptp(plain)

    def test_bad_equalize_value(self, make_dicom) -> None:
        """An unknown enhancement name is a ValueError."""
        with pytest.raises(ValueError, match="equalize must be one of"):
            render(load_image(make_dicom()), equalize="sharpen")

    def test_display_pixels_with_window_pair(self, make_dicom) -> None:
        """display_pixels accepts a (center, width) pair."""
        path = make_dicom(pixels=ramp())
        out = display_pixels(path, window=(128, 256))
        np.testing.assert_array_equal(out, ramp())


class TestResize:
    def test_longer_side(self) -> None:
        """An int size sets the longer side and keeps the aspect ratio."""
        out = resize_display(np.zeros((100, 50), np.uint8), 40)
        assert out.shape == (40, 20)

    def test_antialiased_downscale_keeps_mean(self) -> None:
        """Downscaling a checkerboard gives mid-grey, not aliasing."""
        board = (np.indices((64, 64)).sum(0) % 2 * 255).astype(np.uint8)
        out = resize_display(board, 16)
        assert abs(float(out.mean()) - 127.5) < 3 and np.ptp(out) < 10
