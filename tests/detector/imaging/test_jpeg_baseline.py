"""Grey JPEG Baseline through libjpeg-turbo (detector/imaging/jpeg_baseline.py), inside load_image.

The oracles are other decoders: DCMTK's ``dcmdjpeg`` (the reference renderer's IJG libjpeg) and
Pillow's libjpeg-turbo must give the very same pixels; pydicom's own decoder (pylibjpeg-libjpeg)
stays within one grey level.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import encapsulate, get_frame
from pydicom.pixels import pixel_array
from pydicom.uid import JPEGBaseline8Bit

from detector.imaging.decode import load_image
from detector.imaging.dicom_write import compress_jpeg_baseline, new_image_dataset, save_dataset
from detector.imaging.jpeg_baseline import Damaged, decode_grey_baseline, is_grey_baseline
from detector.imaging.read import DicomReadError
from tests.conftest import chest_like


def _pillow(path: Path) -> np.ndarray:
    ds = pydicom.dcmread(path)
    frame = get_frame(ds.PixelData, 0, number_of_frames=1)
    return np.asarray(Image.open(io.BytesIO(frame)))


@pytest.fixture
def radiograph(make_dicom) -> Path:
    """A 256 px grey JPEG Baseline image with fine structure (so decoders can disagree)."""
    rng = np.random.default_rng(7)
    big = np.kron(chest_like(64, seed=3), np.ones((4, 4), np.uint8)).astype(np.int16)
    pixels = np.clip(big + rng.normal(0, 12, big.shape), 0, 255).astype(np.uint8)
    return make_dicom("cxr.dcm", pixels, jpeg=True)


def test_pixels_equal_pillows_libjpeg_turbo_and_differ_from_pylibjpeg_by_one_at_most(radiograph):
    image = load_image(radiograph)
    assert image.stored.dtype == np.uint8 and image.stored.shape == (256, 256)
    assert np.array_equal(image.stored, _pillow(radiograph))
    reference = pixel_array(str(radiograph), decoding_plugin="pylibjpeg").astype(int)
    assert np.abs(image.stored.astype(int) - reference).max() <= 1
    assert image.warnings == []


@pytest.mark.skipif(
    shutil.which("dcmdjpeg") is None, reason="DCMTK (apt-get install dcmtk) is not installed"
)
def test_pixels_equal_dcmtk(radiograph, tmp_path):
    plain = tmp_path / "plain.dcm"
    subprocess.run(["dcmdjpeg", str(radiograph), str(plain)], check=True, capture_output=True)
    assert np.array_equal(load_image(radiograph).stored, pydicom.dcmread(plain).pixel_array)


def test_each_frame_of_a_multiframe_image(tmp_path):
    frames = [chest_like(48, seed=s) for s in range(3)]
    encoded = []
    for arr in frames:
        out = io.BytesIO()
        Image.fromarray(arr).save(out, format="JPEG", quality=90)
        encoded.append(out.getvalue())
    ds = new_image_dataset(frames[0])
    ds.NumberOfFrames = 3
    ds.PixelData = encapsulate(encoded)
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    path = tmp_path / "multi.dcm"
    save_dataset(ds, path)
    for k, data in enumerate(encoded):
        expected = np.asarray(Image.open(io.BytesIO(data)))
        assert np.array_equal(load_image(path, frame=k).stored, expected)


def test_a_damaged_stream_pydicom_still_decodes_is_shown_with_a_warning(radiograph, tmp_path):
    ds = pydicom.dcmread(radiograph)
    data = bytearray(get_frame(ds.PixelData, 0, number_of_frames=1))
    half = len(data) // 2
    data[half : half + 2] = b"\xff\xd9"  # an end-of-image marker inside the scan
    ds.PixelData = encapsulate([bytes(data)])
    bad = tmp_path / "damaged.dcm"
    ds.save_as(bad)
    assert isinstance(decode_grey_baseline(pydicom.dcmread(bad), 0, 1), Damaged)
    image = load_image(bad)
    assert image.stored.shape == (256, 256)
    (warning,) = [w for w in image.warnings if "JPEG" in w]
    assert warning.startswith("the JPEG data is damaged (Corrupt JPEG data")
    assert warning.endswith("some pixels may be wrong")


def _before_sof(data: bytes, extra: bytes) -> bytes:
    """``extra`` inserted just before the frame header (SOF0): damage in the header segments."""
    sof = data.index(b"\xff\xc0")
    return data[:sof] + extra + data[sof:]


def test_damage_in_the_header_is_reported_too(radiograph, tmp_path):
    ds = pydicom.dcmread(radiograph)
    data = get_frame(ds.PixelData, 0, number_of_frames=1)
    ds.PixelData = encapsulate([_before_sof(data, b"\x12\x34")])
    bad = tmp_path / "header.dcm"
    ds.save_as(bad)
    assert load_image(bad).warnings == [
        "the JPEG data is damaged (Corrupt JPEG data: 2 extraneous bytes before marker 0xc0); "
        "some pixels may be wrong"
    ]


def test_a_cut_stream_is_shown_with_a_warning(radiograph, tmp_path):
    """pydicom's decoders fill in what is missing (they did so silently before); now it is said."""
    ds = pydicom.dcmread(radiograph)
    data = get_frame(ds.PixelData, 0, number_of_frames=1)
    ds.PixelData = encapsulate([data[: len(data) // 8]])
    bad = tmp_path / "cut.dcm"
    ds.save_as(bad)
    assert load_image(bad).warnings == [
        "the JPEG data is damaged (Premature end of JPEG file); some pixels may be wrong"
    ]


def test_a_stream_no_decoder_takes_is_still_one_error_line(radiograph, tmp_path):
    ds = pydicom.dcmread(radiograph)
    data = get_frame(ds.PixelData, 0, number_of_frames=1)
    ds.PixelData = encapsulate([b"\x00\x00" + data[2:]])  # no SOI marker: not a JPEG stream
    bad = tmp_path / "nosoi.dcm"
    ds.save_as(bad)
    with pytest.raises(DicomReadError, match=r"nosoi\.dcm: corrupt JPEG Baseline stream"):
        load_image(bad)


def test_only_grey_unsigned_8bit_baseline_takes_this_path(make_dicom, tmp_path):
    grey = pydicom.dcmread(make_dicom("g.dcm", jpeg=True))
    assert is_grey_baseline(grey)
    rgb = new_image_dataset(np.stack([chest_like()] * 3, axis=-1), photometric="RGB")
    compress_jpeg_baseline(rgb)
    assert not is_grey_baseline(rgb)
    assert not is_grey_baseline(pydicom.dcmread(make_dicom("u.dcm")))  # uncompressed
    grey.PixelRepresentation = 1
    assert not is_grey_baseline(grey)
    grey.PixelRepresentation, grey.BitsStored = 0, 7
    assert not is_grey_baseline(grey)


def test_a_header_of_another_size_leaves_it_to_pydicom(radiograph, tmp_path):
    ds = pydicom.dcmread(radiograph)
    ds.Rows = 128  # the stream says 256
    assert decode_grey_baseline(ds, 0, 1) is None


def test_without_simplejpeg_pydicom_decodes(radiograph, monkeypatch):
    monkeypatch.setitem(sys.modules, "simplejpeg", None)  # import simplejpeg -> ImportError
    assert decode_grey_baseline(pydicom.dcmread(radiograph), 0, 1) is None
    image = load_image(radiograph)
    expected = pixel_array(str(radiograph), decoding_plugin="pylibjpeg")
    assert np.array_equal(image.stored, expected)
