"""`pneumoview convert --overlays`: overlay planes burnt in white, as dcmj2pnm draws them."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detector import cli
from detector.imaging.dicom_write import new_image_dataset, save_dataset
from detector.imaging.render import display_pixels, resize_display
from tests.detector.imaging.test_overlays import L_SHAPE, _testdata, add_plane


def _overlay_file(tmp_path: Path) -> Path:
    """A 6 x 6 grey image with an "L" plane at (2, 5), so its right column is clipped."""
    pixels = np.arange(36, dtype=np.uint8).reshape(6, 6) * 4
    ds = new_image_dataset(pixels, WindowCenter=70, WindowWidth=140)
    add_plane(ds, L_SHAPE, origin=(2, 5), description="marker")
    path = tmp_path / "in" / "ov.dcm"
    path.parent.mkdir()
    save_dataset(ds, path)
    return path


def _convert(src: Path, out: Path, *flags: str) -> np.ndarray:
    assert cli.main(["convert", str(src), "--out", str(out), "--workers", "1", *flags]) == 0
    return np.asarray(Image.open(out / f"{src.stem}.png"))


def test_overlays_are_burnt_white(tmp_path):
    """Under the clipped plane the PNG is 255; every other pixel is the plain display."""
    src = _overlay_file(tmp_path)
    png = _convert(src, tmp_path / "out", "--overlays")
    plain = display_pixels(src)
    expected_mask = np.zeros((6, 6), dtype=bool)
    expected_mask[1:4, 4] = True  # the "L"'s column 0 at image column 4
    expected_mask[3, 5] = True  # its foot's second pixel; the third is outside the image
    assert not (plain[expected_mask] == 255).any()  # so burning is visible
    assert (png[expected_mask] == 255).all()
    np.testing.assert_array_equal(png[~expected_mask], plain[~expected_mask])


def test_without_the_flag_the_png_is_unchanged(tmp_path):
    """No --overlays: the PNG's bytes are those of the display pipeline, overlays ignored."""
    src = _overlay_file(tmp_path)
    out = tmp_path / "out"
    _convert(src, out)
    buf = io.BytesIO()
    Image.fromarray(display_pixels(src)).save(buf, format="PNG", compress_level=3)
    assert (out / "ov.png").read_bytes() == buf.getvalue()


def test_overlays_burnt_before_resizing(tmp_path):
    """--size scales the burnt image, so the plane scales with it."""
    src = _overlay_file(tmp_path)
    png = _convert(src, tmp_path / "out", "--overlays", "--size", "12")
    burnt = display_pixels(src)
    burnt[1:4, 4] = burnt[3, 5] = 255
    np.testing.assert_array_equal(png, resize_display(burnt, 12))


def test_damaged_plane_still_converts(tmp_path, caplog):
    """A plane with too little Overlay Data is skipped in one line; the PNG is written."""
    ds = new_image_dataset(np.full((4, 4), 50, np.uint8))
    add_plane(ds, np.ones((30, 30), dtype=bool), data=b"\x01\x00")
    src = tmp_path / "bad.dcm"
    save_dataset(ds, src)
    png = _convert(src, tmp_path / "out", "--overlays")
    np.testing.assert_array_equal(png, display_pixels(src))
    assert "overlay 6000 skipped: Overlay Data is 2 bytes" in caplog.text


@pytest.mark.skipif(shutil.which("dcmj2pnm") is None, reason="dcmj2pnm (DCMTK) is not installed")
@pytest.mark.parametrize("name", ["examples_overlay.dcm", "MR-SIEMENS-DICOM-WithOverlays.dcm"])
def test_agrees_with_dcmj2pnm(tmp_path, name):
    """Within one grey level of dcmj2pnm (first window of the file) on >= 99.99% of pixels."""
    src = Path(_testdata(name))
    ours = _convert(src, tmp_path / "out", "--overlays").astype(int)
    theirs_path = tmp_path / "dcmtk.png"
    subprocess.run(
        ["dcmj2pnm", "--write-png", "+Wi", "1", str(src), str(theirs_path)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    theirs = np.asarray(Image.open(theirs_path)).astype(int)
    assert ours.shape == theirs.shape
    assert (np.abs(ours - theirs) <= 1).mean() >= 0.9999


def test_roi_plane_dims_outside_its_region(tmp_path):
    """An ROI ("R") plane: its region keeps the image, the rest of its rectangle is v >> 4."""
    pixels = np.full((4, 4), 160, np.uint8)
    ds = new_image_dataset(pixels, WindowCenter=127.5, WindowWidth=256)
    add_plane(ds, np.array([[1, 0], [0, 1]], dtype=bool), origin=(2, 2), kind="R")
    src = tmp_path / "in" / "roi.dcm"
    src.parent.mkdir()
    save_dataset(ds, src)
    png = _convert(src, tmp_path / "out", "--overlays")
    plain = display_pixels(src)
    assert plain[1, 1] == 160  # the window maps 160 to 160
    expected = plain.copy()
    expected[1, 2] = expected[2, 1] = 160 >> 4
    np.testing.assert_array_equal(png, expected)


def test_high_bit_overlay_burnt(tmp_path):
    """Bit 15 of 12-bit pixels: burnt white, and the pixels under it are not bright from it."""
    from tests.detector.imaging.test_overlays import high_bit_file

    values = np.array([[0, 1000], [2000, 4095]], dtype=np.uint16)
    bits = np.array([[0, 1], [0, 0]], dtype=bool)
    src = tmp_path / "in" / "hb.dcm"
    src.parent.mkdir()
    save_dataset(high_bit_file(values, bits, WindowCenter=2048, WindowWidth=4096), src)
    assert _convert(src, tmp_path / "plain").tolist() == [[0, 62], [125, 255]]
    assert _convert(src, tmp_path / "burnt", "--overlays").tolist() == [[0, 255], [125, 255]]
