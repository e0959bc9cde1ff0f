"""The JPEG Lossless SV1 writer: pydicom's decoders give every pixel back."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from detector.imaging.dicom_write import new_image_dataset, save_dataset
from detector.imaging.jpeg_lossless import compress_jpeg_lossless, encode_jpeg_lossless


class TestCompressJpegLossless:
    @pytest.mark.parametrize(("dtype", "bits"), [(np.uint8, 8), (np.uint16, 12), (np.uint16, 16)])
    def test_round_trip_is_exact(self, tmp_path, dtype, bits):
        """Random pixels, flat runs and the extremes decode bit-exact."""
        rng = np.random.default_rng(bits)
        pixels = rng.integers(0, 1 << bits, (37, 29)).astype(dtype)
        pixels[3:8] = 0
        pixels[10, :] = (1 << bits) - 1
        ds = new_image_dataset(pixels, bits_stored=bits)
        compress_jpeg_lossless(ds)
        save_dataset(ds, tmp_path / "jl.dcm")
        back = pydicom.dcmread(tmp_path / "jl.dcm")
        assert back.file_meta.TransferSyntaxUID == pydicom.uid.JPEGLosslessSV1
        np.testing.assert_array_equal(back.pixel_array, pixels)

    def test_image_with_no_structure(self, tmp_path):
        """A constant image (every difference 0) still round-trips."""
        pixels = np.full((16, 16), 7, np.uint16)
        ds = compress_jpeg_lossless(new_image_dataset(pixels, bits_stored=12))
        save_dataset(ds, tmp_path / "flat.dcm")
        np.testing.assert_array_equal(pydicom.dcmread(tmp_path / "flat.dcm").pixel_array, pixels)


class TestEncodeJpegLossless:
    def test_codestream_markers(self):
        """SOI, lossless SOF3 and EOI frame the codestream."""
        data = encode_jpeg_lossless(np.zeros((4, 4), np.uint8), 8)
        assert data[:2] == b"\xff\xd8" and data[2:4] == b"\xff\xc3" and data[-2:] == b"\xff\xd9"

    def test_values_above_precision_rejected(self):
        with pytest.raises(ValueError, match="precision 8"):
            encode_jpeg_lossless(np.full((4, 4), 300, np.uint16), 8)

    def test_colour_rejected(self):
        with pytest.raises(ValueError, match="2-D unsigned"):
            encode_jpeg_lossless(np.zeros((4, 4, 3), np.uint8), 8)
