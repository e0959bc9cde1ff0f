"""The one model input: grey, equalize through the imaging core, resize, scale."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detector.imaging.decode import load_image
from detector.imaging.lut import Window
from detector.imaging.read import DicomReadError
from detector.imaging.render import equalize_display, render, resize_display
from detector.model.preprocess import gray_to_tensor, model_gray, prepare_gray
from detector.model.sources import prepare_source
from tests.conftest import chest_like


def prepare_image(display: np.ndarray, *, input_size: int, **kwargs: str) -> tuple:
    gray, scale = prepare_gray(display, input_size=input_size, **kwargs)
    return gray_to_tensor(gray), scale


def tensor_of(source, *, input_size: int) -> tuple:
    """The model's tensor for a file or DicomImage: model_gray, then gray_to_tensor."""
    gray, scale, size = model_gray(source, input_size=input_size)
    return gray_to_tensor(gray), scale, size


class TestPrepareGray:
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

    def test_values_are_resized_display_over_255(self) -> None:
        """Four flat quadrants (0, 51, 204, 255) halve to flat quadrants of 0, 0.2, 0.8, 1.0."""
        display = np.zeros((128, 128), np.uint8)
        display[:64, 64:] = 51
        display[64:, :64] = 204
        display[64:, 64:] = 255
        image, _ = prepare_image(display, input_size=64)
        grey = image[0].numpy()
        # Away from the seams (the filter reaches 2 source pixels = 1 output pixel).
        np.testing.assert_allclose(grey[:30, :30], 0.0, atol=1e-6)
        np.testing.assert_allclose(grey[:30, 34:], 0.2, atol=1e-6)
        np.testing.assert_allclose(grey[34:, :30], 0.8, atol=1e-6)
        np.testing.assert_allclose(grey[34:, 34:], 1.0, atol=1e-6)
        assert 0.0 < float(grey[10, 32]) < 0.2  # the seam blends its neighbours

    def test_rgb_becomes_grey(self) -> None:
        """An RGB display image is converted to one grey channel (BT.601 luma)."""
        rgb = np.zeros((64, 64, 3), np.uint8)
        rgb[..., 1] = 200
        image, _ = prepare_image(rgb, input_size=64)
        assert float(image[0, 0, 0]) == pytest.approx(round(200 * 0.587) / 255.0)

    def test_equalize_at_full_size_then_resize(self) -> None:
        """A 100/110 checkerboard equalizes to 0/255 at full size, then halves to mid-grey
        (resizing first would leave one grey level, which equalizes to black)."""
        display = np.where(np.indices((128, 128)).sum(axis=0) % 2 == 0, 100, 110).astype(np.uint8)
        gray, scale = prepare_gray(display, input_size=64, equalize="hist")
        assert gray.shape == (64, 64) and scale == 0.5
        inner = gray[2:-2, 2:-2].astype(int)
        assert inner.min() >= 126 and inner.max() <= 129
        plain, _ = prepare_gray(display, input_size=64)
        assert 100 <= int(plain[2:-2, 2:-2].min()) and int(plain[2:-2, 2:-2].max()) <= 110

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


class TestModelInput:
    def test_header_window_is_applied(self, make_dicom) -> None:
        """The viewer's pipeline (header window) feeds the model: stored 20 and 100 under
        C=100 W=120 are 0 and ((100 - 99.5) / 119 + 0.5) * 255 = 128.6 (PS3.3 C.11.2.1.2),
        from the path and from the decoded image alike."""
        pixels = np.full((96, 96), 20, np.uint8)
        pixels[:, 48:] = 100
        path = make_dicom("a.dcm", pixels, WindowCenter=100, WindowWidth=120)
        image, scale, size = tensor_of(path, input_size=48)
        assert size == (96, 96) and scale == 0.5 and tuple(image.shape) == (3, 48, 48)
        assert torch.equal(image[0], image[1]) and torch.equal(image[1], image[2])
        np.testing.assert_allclose(image[0, :, :22].numpy(), 0.0, atol=1e-6)
        np.testing.assert_allclose(image[0, :, 26:].numpy(), 128.57 / 255, atol=1.0 / 255)
        assert torch.equal(tensor_of(load_image(path), input_size=48)[0], image)

    def test_monochrome1_is_inverted(self, make_dicom) -> None:
        """MONOCHROME1 is shown (and fed to the model) inverted, as in the viewer."""
        pixels = chest_like(64)
        mono1 = tensor_of(make_dicom("m1.dcm", pixels, photometric="MONOCHROME1"), input_size=64)
        mono2 = tensor_of(make_dicom("m2.dcm", pixels), input_size=64)
        assert float((mono1[0] + mono2[0] - 1.0).abs().max()) < 0.02

    @pytest.mark.parametrize("equalize", ["hist", "clahe"])
    def test_window_and_command_line_feed_identical_tensors(self, make_dicom, equalize) -> None:
        """GUI path (the DicomImage the viewer holds) == CLI path (the file), MONOCHROME1."""
        pixels = (chest_like(128, seed=4) // 3 + 40).astype(np.uint8)
        path = make_dicom("m1.dcm", pixels, photometric="MONOCHROME1")
        held = load_image(path)
        # The viewer has been showing it with another window and inverted back: no effect.
        render(held, Window(60.0, 40.0), invert=False)
        gui = prepare_source(held, "m1", input_size=64, equalize=equalize)
        cli = prepare_source(str(path), "m1", input_size=64, equalize=equalize)
        assert gui.error is None and cli.error is None
        assert (gui.scale, gui.image_size) == (cli.scale, cli.image_size)
        assert torch.equal(gray_to_tensor(gui.gray), gray_to_tensor(cli.gray))
        # What the GUI fed before: its rendered (inverted) display equalized afterwards.
        old = prepare_source(render(held), "m1", input_size=64, equalize=equalize)
        assert not np.array_equal(old.gray, cli.gray)

    def test_picture_files_are_grey_equalized_and_resized(self, tmp_path) -> None:
        """A PNG (e.g. from `convert`) is read as grey; equalization applies to it."""
        from PIL import Image

        display = (chest_like(96) // 2).astype(np.uint8)
        path = tmp_path / "p.png"
        Image.fromarray(display).save(path)
        gray, scale, size = model_gray(path, input_size=48, equalize="hist")
        np.testing.assert_array_equal(gray, resize_display(equalize_display(display, "hist"), 48))
        assert (scale, size) == (0.5, (96, 96))

    def test_unreadable_file(self, tmp_path) -> None:
        """A file that is no image raises DicomReadError naming it."""
        bad = tmp_path / "bad.png"
        bad.write_bytes(b"nope")
        with pytest.raises(DicomReadError, match="bad.png"):
            model_gray(bad, input_size=32)
        with pytest.raises(ValueError, match="equalize must be"):
            model_gray(bad, input_size=32, equalize="magic")
