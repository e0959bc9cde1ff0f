"""Plain PNG / JPEG chest images go through the same pixel pipeline as DICOM files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detector.files.scan import scan
from detector.imaging.decode import load_image
from detector.imaging.dicom_info import pixel_spacing
from detector.imaging.read import DicomReadError, read_header
from detector.imaging.render import display_pixels, render
from tests.conftest import chest_like


def _save(array: np.ndarray, path: Path, **options: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **options)
    return path


class TestLoadImage:
    def test_8_bit_png_is_shown_as_stored(self, tmp_path: Path) -> None:
        """An 8-bit grey PNG: same image type, not DICOM, identity from the stem, pixels as is."""
        pixels = chest_like(48)
        image = load_image(_save(pixels, tmp_path / "00000001_000.png"))
        assert image.is_dicom is False
        assert image.header.PatientID == "00000001_000"
        assert (image.header.Rows, image.header.Columns) == (48, 48)
        assert image.stored.dtype == np.uint8 and not image.is_color
        np.testing.assert_array_equal(render(image), pixels)
        assert pixel_spacing(image.header) is None

    def test_16_bit_png_uses_the_auto_window(self, tmp_path: Path) -> None:
        """A 16-bit grey PNG keeps its 16-bit values and is windowed automatically."""
        pixels = np.tile(np.arange(1000, 5096, 16, dtype=np.uint16), (8, 1))
        image = load_image(_save(pixels, tmp_path / "sixteen.png"))
        assert image.stored.dtype == np.uint16
        np.testing.assert_array_equal(image.stored, pixels)
        assert image.windows == [] and image.default_window.kind == "auto"
        display = render(image)
        assert display[0, 0] == 0 and display[0, -1] == 255
        assert np.all(np.diff(display[0].astype(int)) >= 0)

    def test_grey_jpeg(self, tmp_path: Path) -> None:
        """A grey JPEG (CheXpert style) decodes close to its source; no extension needed."""
        pixels = chest_like(64)
        path = _save(pixels, tmp_path / "view1_frontal", format="JPEG", quality=95)
        image = load_image(path)
        assert image.is_dicom is False and image.stored.dtype == np.uint8
        assert np.abs(render(image).astype(int) - pixels).mean() < 3

    def test_rgb_png_with_equal_channels_is_grey(self, tmp_path: Path) -> None:
        """NIH files saved as RGB with three equal channels are read as grey."""
        pixels = chest_like(32)
        image = load_image(_save(np.dstack([pixels] * 3), tmp_path / "rgb.png"))
        assert not image.is_color
        np.testing.assert_array_equal(render(image), pixels)

    def test_damaged_png_gives_a_reason(self, tmp_path: Path) -> None:
        """A PNG cut short is refused with one line naming the file and the format."""
        good = _save(chest_like(64), tmp_path / "good.png")
        cut = tmp_path / "cut.png"
        cut.write_bytes(good.read_bytes()[:120])
        with pytest.raises(DicomReadError, match=r"^cut\.png: damaged PNG image \(.+\)$"):
            load_image(cut)

    def test_display_pixels_and_header(self, tmp_path: Path) -> None:
        """The convenience calls used by convert/detect/train accept a PNG too."""
        pixels = chest_like(32)
        path = _save(pixels, tmp_path / "p.png")
        np.testing.assert_array_equal(display_pixels(path), pixels)
        assert read_header(path).PatientID == "p"


class TestScan:
    def test_png_is_an_image_instance_named_by_stem(self, tmp_path: Path) -> None:
        """A folder scan lists PNG/JPEG files as images (patient = file stem), not problems."""
        _save(chest_like(16), tmp_path / "a.png")
        _save(chest_like(16), tmp_path / "b.jpg", format="JPEG")
        result = scan([tmp_path])
        assert result.problems == []
        instances = result.instances()
        assert sorted(i.header.PatientID for i in instances) == ["a", "b"]
        assert all(not i.is_dicom and i.is_image for i in instances)


class TestTraining:
    def test_training_reads_16_bit_png_and_jpeg_through_the_pipeline(self, tmp_path: Path) -> None:
        """Training finds <id>.jpg and keeps a 16-bit PNG's range (was clipped to white)."""
        from detector.files.image_files import find_images
        from detector.training.datasets import load_gray

        pixels = np.tile(np.linspace(1000, 5000, 64).astype(np.uint16), (64, 1))
        _save(pixels, tmp_path / "sixteen.png")
        _save(chest_like(64), tmp_path / "chexpert.jpg", format="JPEG", quality=95)
        found = find_images(tmp_path)
        assert sorted(found) == ["chexpert", "sixteen"]
        gray, scale = load_gray(found["sixteen"], input_size=32)
        assert gray.shape == (32, 32) and scale == 0.5
        assert gray[:, 0].max() < 20 and gray[:, -1].min() > 235
        gray, _ = load_gray(found["chexpert"], input_size=64)
        assert np.abs(gray.astype(int) - chest_like(64)).mean() < 3
