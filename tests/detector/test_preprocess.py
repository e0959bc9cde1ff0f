"""Model input preparation: grey, equalize through the imaging core, resize, scale."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detector.imaging import display_pixels, equalize_display, resize_display
from detector.preprocess import load_for_model, prepare_gray, prepare_image
from tests.conftest import chest_like


class TestPrepareImage:
    def test_shape_range_and_scale(self) -> None:
        """Longer side becomes input_size, three equal channels of float32 in [0, 1]."""
        display = np.zeros((200, 100), np.uint8)
        display[50:150, 25:75] = 255
        image, scale = prepare_image(display, input_size=64)
        assert image.shape == (3, 64, 32)
        assert image.dtype == torch.float32
        assert scale == pytest.approx(64 / 200)
        assert float(image.min()) == 0.0 and float(image.max()) == 1.0
        assert torch.equal(image[0], image[1]) and torch.equal(image[1], image[2])

    def test_values_follow_the_imaging_resize(self) -> None:
        """Pixels are the imaging core's resize of the display, divided by 255."""
        display = chest_like(128)
        image, _ = prepare_image(display, input_size=64)
        expected = resize_display(display, 64).astype(np.float32) / 255.0
        np.testing.assert_allclose(image[0].numpy(), expected)

    def test_rgb_becomes_grey(self) -> None:
        """An RGB display image is converted to one grey channel (BT.601 luma)."""
        rgb = np.zeros((64, 64, 3), np.uint8)
        rgb[..., 1] = 200
        image, _ = prepare_image(rgb, input_size=64)
        assert float(image[0, 0, 0]) == pytest.approx(round(200 * 0.587) / 255.0)

    def test_equalize_uses_the_imaging_core(self) -> None:
        """equalize="hist" is the imaging core's equalization at full size, then resize."""
        display = (chest_like(128) // 2).astype(np.uint8)
        gray, _ = prepare_gray(display, input_size=64, equalize="hist")
        expected = resize_display(equalize_display(display, "hist"), 64)
        np.testing.assert_array_equal(gray, expected)

    @pytest.mark.parametrize(
        ("display", "kwargs", "error", "message"),
        [
            (np.zeros((8, 8), np.float32), {}, TypeError, "must be uint8"),
            (np.zeros((8,), np.uint8), {}, ValueError, "expected a 2-D grey"),
            (np.zeros((8, 8), np.uint8), {"equalize": "magic"}, ValueError, "equalize must be"),
        ],
    )
    def test_bad_input(self, display, kwargs, error, message) -> None:
        """Wrong dtype, shape or option is refused with a clear message."""
        with pytest.raises(error, match=message):
            prepare_image(display, input_size=64, **kwargs)


class TestLoadForModel:
    def test_same_pixels_as_the_viewer(self, make_dicom) -> None:
        """A DICOM goes through display_pixels: identical to preparing the viewer's pixels."""
        path = make_dicom("a.dcm", chest_like(96), WindowCenter=100, WindowWidth=120)
        image, size, scale = load_for_model(path, input_size=48)
        expected, _ = prepare_image(display_pixels(path), input_size=48)
        assert size == (96, 96)
        assert scale == 0.5
        assert torch.equal(image, expected)

    def test_monochrome1_is_inverted(self, make_dicom) -> None:
        """MONOCHROME1 is shown (and fed to the model) inverted, as in the viewer."""
        pixels = chest_like(64)
        mono1 = load_for_model(
            make_dicom("m1.dcm", pixels, photometric="MONOCHROME1"), input_size=64
        )
        mono2 = load_for_model(make_dicom("m2.dcm", pixels), input_size=64)
        assert float((mono1[0] + mono2[0] - 1.0).abs().max()) < 0.02
