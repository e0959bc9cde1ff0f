"""Background job generators (run here without threads)."""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

from viewer.platform.workers import ScanBatch, make_thumbnail, scan_batches, thumbnails


def _run(gen) -> list[ScanBatch]:
    return list(gen)


class TestScanBatches:
    def test_decode_first_yields_pixels_and_header(self, make_dicom, tmp_path):
        """The first image arrives decoded, with every file counted once; a side file is skipped."""
        a = make_dicom("a.dcm")
        make_dicom("b.dcm")
        (tmp_path / "c.txt").write_text("x")
        batches = _run(scan_batches([str(tmp_path)], threading.Event(), decode_first=True))
        first = next(b for b in batches if b.items)
        assert first.first_image is not None and first.first_image.path == str(a)
        assert first.items[0].instance.header.get("PatientID") == "TEST"
        items = [i for b in batches for i in b.items]
        assert sorted(i.path.rsplit("/", 1)[1] for i in items) == ["a.dcm", "b.dcm", "c.txt"]
        assert [i.skipped.reason for i in items if i.skipped] == ["not an image (.txt file)"]
        assert batches[-1].done == 2 == batches[-1].total

    def test_broken_first_file_falls_back(self, tmp_path, make_dicom):
        """An unreadable first file is reported as a problem; the next image is decoded."""
        (tmp_path / "0.dcm").write_bytes(b"")
        make_dicom("1.dcm")
        batches = _run(scan_batches([str(tmp_path)], threading.Event(), decode_first=True))
        items = [i for b in batches for i in b.items]
        assert [i.problem.reason for i in items if i.problem] == ["empty file (0 bytes)"]
        assert any(b.first_image is not None for b in batches)

    def test_cancel_stops_early(self, make_dicom, tmp_path):
        """A set cancel event ends the scan before any file is read."""
        make_dicom("a.dcm")
        cancel = threading.Event()
        cancel.set()
        assert all(not b.items for b in _run(scan_batches([str(tmp_path)], cancel)))


class TestThumbnails:
    def test_good_and_bad(self, make_dicom, tmp_path):
        """Thumbnails keep the aspect ratio; a broken file yields its reason."""
        good = make_dicom(pixels=np.zeros((100, 50), np.uint8))
        bad = tmp_path / "bad.dcm"
        bad.write_bytes(b"")
        out = list(thumbnails(deque([str(good), str(bad)]), size=32))
        assert out[0][1].shape == (32, 16) and out[0][2] == ""
        assert out[1][1] is None and out[1][2] == "empty file (0 bytes)"
        assert make_thumbnail(str(good), 20).shape == (20, 10)
