"""Decompression bombs: the declared size is checked before decoding, inflating is bounded."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from pydicom.dataset import Dataset

from detector.imaging.decode import load_image
from detector.imaging.limits import (
    DEFAULT_MAX_PIXEL_BYTES,
    MAX_PIXEL_BYTES_ENV,
    declared_pixel_bytes,
    max_pixel_bytes,
)
from detector.imaging.read import DicomReadError, read_header
from tests.detector.imaging.bombs import run_probe, write_deflated


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    """The issue's bomb: about 1 MB on disk, 32768 x 32768 x 16 bits declared (2 GiB)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.dcm"
    return write_deflated(path, rows=32768, cols=32768, bits=16, zeros=1 << 30)


class TestMaxPixelBytes:
    def test_default_is_well_above_a_large_dr_image(self, monkeypatch):
        """Unset: 512 MiB, sixteen times a 4096 x 4096 16-bit image."""
        monkeypatch.delenv(MAX_PIXEL_BYTES_ENV, raising=False)
        assert max_pixel_bytes() == DEFAULT_MAX_PIXEL_BYTES == 16 * 4096 * 4096 * 2

    def test_environment_overrides(self, monkeypatch):
        """A positive number of bytes in the environment is the limit."""
        monkeypatch.setenv(MAX_PIXEL_BYTES_ENV, "1_000_000")
        assert max_pixel_bytes() == 1_000_000

    @pytest.mark.parametrize("text", ["lots", "-5", "0"])
    def test_nonsense_falls_back_to_the_default(self, monkeypatch, text):
        """A value that is not a positive number does not lift or remove the limit."""
        monkeypatch.setenv(MAX_PIXEL_BYTES_ENV, text)
        assert max_pixel_bytes() == DEFAULT_MAX_PIXEL_BYTES


class TestDeclaredPixelBytes:
    def test_rows_columns_frames_samples_bytes(self):
        """Multiplies every factor; 12-bit samples take two bytes."""
        ds = Dataset()
        ds.Rows, ds.Columns, ds.NumberOfFrames = 100, 200, 3
        ds.SamplesPerPixel, ds.BitsAllocated = 3, 16
        assert declared_pixel_bytes(ds) == 100 * 200 * 3 * 3 * 2

    def test_one_bit_images_pack_eight_pixels_a_byte(self):
        """BitsAllocated 1: (pixels + 7) // 8."""
        ds = Dataset()
        ds.Rows, ds.Columns, ds.BitsAllocated = 3, 3, 1
        assert declared_pixel_bytes(ds) == 2

    def test_missing_values_give_none(self):
        """No Rows: nothing to compare (the decoder reports the missing value)."""
        ds = Dataset()
        ds.Columns, ds.BitsAllocated = 10, 8
        assert declared_pixel_bytes(ds) is None


class TestDeflatedBomb:
    def test_load_refuses_in_one_line(self, bomb):
        """Decoding the bomb is refused from its header, naming the file and the limit."""
        with pytest.raises(DicomReadError) as info:
            load_image(bomb)
        assert str(info.value) == (
            "bomb.dcm: the header declares 32768 x 32768 pixels (2.0 GiB once decoded), over the "
            "limit of 512 MiB (set PNEUMOVIEW_MAX_PIXEL_BYTES to a larger number of bytes to "
            "read it)"
        )

    def test_header_reads_without_inflating_the_pixels(self, bomb):
        """A header read of the bomb (browsing, ``info``) is fine: its header is small."""
        ds = read_header(bomb)
        assert (ds.Rows, ds.Columns, ds.PatientID) == (32768, 32768, "BOMB")
        assert "PixelData" not in ds

    def test_small_header_followed_by_a_gigabyte_is_refused(self, tmp_path):
        """A 64 x 64 header whose stream inflates to 1 GB of zeros is cut at the limit."""
        liar = write_deflated(tmp_path / "liar.dcm", rows=64, cols=64, zeros=1 << 30)
        with pytest.raises(
            DicomReadError,
            match=r"^liar\.dcm: the deflated data inflates to more "
            r"than its header declares \(over 64\.0 MiB\)$",
        ):
            load_image(liar)

    def test_lower_limit_from_the_environment(self, tmp_path, monkeypatch):
        """With the limit set to 1000 bytes, a 64 x 64 8-bit deflated image is refused."""
        path = write_deflated(tmp_path / "small.dcm", rows=64, cols=64)
        monkeypatch.setenv(MAX_PIXEL_BYTES_ENV, "1000")
        with pytest.raises(DicomReadError, match=r"over the limit of 1000 bytes"):
            load_image(path)

    def test_honest_deflated_image_decodes(self, tmp_path):
        """A small deflated image decodes to its pixels, as before."""
        pixels = (np.arange(48 * 40, dtype=np.uint16).reshape(48, 40) * 7) % 4096
        path = write_deflated(tmp_path / "ok.dcm", rows=48, cols=40, bits=16, pixels=pixels)
        image = load_image(path)
        np.testing.assert_array_equal(image.stored, pixels)

    def test_damaged_deflate_stream_is_one_line(self, tmp_path):
        """Bytes that are not a deflate stream after the File Meta group: one line."""
        path = write_deflated(tmp_path / "ok.dcm", rows=8, cols=8)
        data = path.read_bytes()
        meta_end = data.index(b"1.2.840.10008.1.2.1.99") + len("1.2.840.10008.1.2.1.99")
        (tmp_path / "bad.dcm").write_bytes(data[:meta_end] + b"\xff" * 300)
        with pytest.raises(DicomReadError) as info:
            load_image(tmp_path / "bad.dcm")
        assert str(info.value).startswith("bad.dcm: the deflated data is damaged (zlib: ")
        assert "\n" not in str(info.value)


class TestUncompressedBomb:
    def test_rle_header_declaring_a_huge_image_is_refused_before_decoding(self, tmp_path):
        """An RLE file declaring 30000 x 30000 x 16 bits is refused before the decoder allocates."""
        from pydicom.uid import RLELossless

        from detector.imaging.dicom_write import new_image_dataset, save_dataset

        ds = new_image_dataset(np.zeros((8, 8), np.uint16))
        ds.compress(RLELossless)
        ds.Rows = ds.Columns = 30000
        save_dataset(ds, tmp_path / "rle.dcm")
        with pytest.raises(DicomReadError, match=r"^rle\.dcm: the header declares 30000 x 30000"):
            load_image(tmp_path / "rle.dcm")


_RSS_PROBE = textwrap.dedent(
    """
    import sys
    from detector.imaging.decode import load_image
    from detector.imaging.read import DicomReadError, read_header
    read_header(sys.argv[1])
    try:
        load_image(sys.argv[1])
    except DicomReadError as err:
        print(err)
    print(peak_mib())
    """
)


def test_bomb_never_takes_more_than_500_mb(bomb):
    """Reading the header of the bomb and trying to decode it stays under 500 MB (peak RSS)."""
    done = run_probe(_RSS_PROBE, str(bomb))
    message, peak_mib = done.stdout.strip().splitlines()
    assert message.startswith("bomb.dcm: the header declares 32768 x 32768 pixels")
    assert int(peak_mib) < 500
