"""Corner overlay and cursor readout text."""

from __future__ import annotations

import numpy as np

from detector.imaging.decode import load_image
from viewer.canvas.overlay_text import corner_texts, cursor_text, format_name


def test_corner_texts_name_view_window(make_dicom):
    """Patient, modality/view, window and size appear in their corners."""
    image = load_image(
        make_dicom(
            PatientName="Doe^Jane",
            PatientAge="042Y",
            PatientSex="F",
            ViewPosition="PA",
            WindowCenter=40,
            WindowWidth=400,
        )
    )
    texts = corner_texts(image.header, image, image.default_window, zoom=0.5, index=0, count=3)
    assert "DOE, Jane" in texts["top_left"] and "042Y F" in texts["top_left"]
    assert texts["top_right"].startswith("CR PA") and "1 / 3" in texts["top_right"]
    assert "W 400 L 40" in texts["bottom_left"] and "Zoom 50%" in texts["bottom_left"]
    assert "64 x 64" in texts["bottom_left"]


def test_cursor_text_mm_and_units(make_dicom):
    """CT values read in HU; Pixel Spacing gives mm."""
    pixels = np.full((16, 16), 1024, np.uint16)
    image = load_image(
        make_dicom(
            pixels=pixels,
            Modality="CT",
            RescaleIntercept=-1024,
            RescaleSlope=1,
            PixelSpacing=[0.5, 0.25],
        )
    )
    text = cursor_text(image, 4, 8)
    assert "x 8  y 4 px" in text and "x 2.0  y 2.0 mm" in text and "Value 0 HU" in text


def test_cursor_text_imager_spacing_labelled(make_dicom):
    """Only Imager Pixel Spacing: mm are labelled (imager)."""
    image = load_image(make_dicom(ImagerPixelSpacing=[0.2, 0.2]))
    assert "mm (imager)" in cursor_text(image, 0, 0)


def test_cursor_text_without_spacing(make_dicom):
    """No spacing at all: pixel coordinates only."""
    assert "mm" not in cursor_text(load_image(make_dicom()), 1, 1)


def test_format_name():
    """DICOM person names read FAMILY, Given."""
    assert format_name("Doe^Jane^M") == "DOE, Jane M"
    assert format_name("") == ""


def test_cursor_text_plain_png_says_why_there_are_no_mm(tmp_path):
    """A PNG has no pixel spacing; the readout says so instead of silently dropping mm."""
    from PIL import Image

    from detector.imaging.plain import NO_SPACING

    path = tmp_path / "nih.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(path)
    text = cursor_text(load_image(path), 1, 1)
    assert "x 1  y 1 px" in text and NO_SPACING in text and "mm" not in text
    assert NO_SPACING == "not DICOM: no pixel spacing"
