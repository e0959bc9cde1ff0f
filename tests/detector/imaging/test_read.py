"""Reading files: bad input, files without a File Meta header, special files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from detector.imaging.decode import load_image
from detector.imaging.dicom_write import new_image_dataset
from detector.imaging.read import DicomReadError, read_header
from tests.detector.imaging.pixels import ramp


class TestBadInput:
    def test_zero_byte_file(self, tmp_path: Path) -> None:
        """An empty file names itself and says it is empty."""
        path = tmp_path / "empty.dcm"
        path.write_bytes(b"")
        with pytest.raises(DicomReadError, match=r"^empty\.dcm: empty file \(0 bytes\)$"):
            load_image(path)

    def test_not_dicom(self, tmp_path: Path) -> None:
        """A text file is 'not a DICOM file'."""
        path = tmp_path / "notes.txt"
        path.write_text("patientId,x,y\n" * 50)
        with pytest.raises(DicomReadError, match=r"notes\.txt: not a DICOM file"):
            read_header(path)

    def test_missing_file(self, tmp_path: Path) -> None:
        """A path that does not exist says so."""
        with pytest.raises(DicomReadError, match="file not found"):
            load_image(tmp_path / "nope.dcm")

    def test_truncated_pixel_data(self, make_dicom, tmp_path: Path) -> None:
        """A file cut inside its pixel data: header readable, pixels refused with a reason."""
        path = make_dicom(pixels=np.zeros((64, 64), np.uint16))
        data = path.read_bytes()
        cut = tmp_path / "cut.dcm"
        cut.write_bytes(data[: len(data) - 3000])
        assert read_header(cut).Rows == 64
        with pytest.raises(DicomReadError, match=r"cut\.dcm: .*(truncated|shorter|damaged)"):
            load_image(cut)

    @pytest.mark.filterwarnings("ignore:End of file reached before delimiter")
    def test_truncated_encapsulated_pixel_data(self, make_dicom, tmp_path: Path) -> None:
        """A JPEG file cut inside its fragments is 'truncated', and its header still reads."""
        path = make_dicom(jpeg=True, PatientID="CUTJPEG")
        data = path.read_bytes()
        cut = tmp_path / "cutjpeg.dcm"
        cut.write_bytes(data[: data.index(b"\xff\xd8\xff") + 300])
        assert read_header(cut).PatientID == "CUTJPEG"
        with pytest.raises(DicomReadError, match=r"cutjpeg\.dcm: file is truncated or damaged"):
            load_image(cut)

    def test_truncated_header_still_shows_what_was_read(self, make_dicom, tmp_path: Path) -> None:
        """A file cut inside its header keeps the elements before the cut."""
        path = make_dicom(pixels=np.zeros((8, 8), np.uint8), PatientID="KEEPME")
        data = path.read_bytes()
        ds = pydicom.dcmread(path)
        # Cut in the middle of the last element before the pixel data.
        offset = data.index(b"KEEPME") + 200
        cut = tmp_path / "cut_header.dcm"
        cut.write_bytes(data[:offset])
        assert len(data) > offset
        header = read_header(cut)
        assert header.PatientID == ds.PatientID

    def test_corrupt_jpeg_stream(self, make_dicom, tmp_path: Path) -> None:
        """Garbage inside a JPEG Baseline stream is a decode error naming the syntax."""
        path = make_dicom(jpeg=True)
        data = bytearray(path.read_bytes())
        soi = data.index(b"\xff\xd8\xff")
        data[soi + 20 : soi + 400] = b"\x00" * 380
        bad = tmp_path / "badjpeg.dcm"
        bad.write_bytes(bytes(data))
        with pytest.raises(DicomReadError, match=r"badjpeg\.dcm: .*JPEG Baseline"):
            load_image(bad)

    def test_empty_pixel_data(self, make_dicom, tmp_path: Path) -> None:
        """A PixelData element with no bytes is refused with a reason."""
        path = make_dicom()
        ds = pydicom.dcmread(path)
        ds.PixelData = b""
        ds.save_as(path)
        with pytest.raises(DicomReadError, match=r"image\.dcm: .*"):
            load_image(path)

    def test_no_pixel_data_is_header_only(self, make_dicom) -> None:
        """A non-image object (SR) is refused but its header reads."""
        path = get_testdata_file("test-SR.dcm")
        assert read_header(path).Modality == "SR"
        with pytest.raises(DicomReadError, match="not an image .structured report"):
            load_image(path)

    def test_unsupported_transfer_syntax(self, make_dicom) -> None:
        """A transfer syntax with no decoder is named in the error."""
        path = make_dicom()
        ds = pydicom.dcmread(path)
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2
        ds.PixelData = pydicom.encaps.encapsulate([b"\x00" * 64])
        ds["PixelData"].VR = "OB"
        ds.save_as(path)
        with pytest.raises(DicomReadError, match=r"image\.dcm: .*(MPEG|unsupported|decod)"):
            load_image(path)


class TestNoMetaHeader:
    def test_acr_nema_style_file_is_read_as_implicit_le(self, tmp_path: Path) -> None:
        """No preamble and no File Meta: read as Implicit VR Little Endian."""
        arr = ramp(8, 16, np.uint16)
        ds = new_image_dataset(arr, PatientID="NOMETA")
        ds.file_meta = pydicom.dataset.FileMetaDataset()
        path = tmp_path / "nometa"
        ds.save_as(path, implicit_vr=True, little_endian=True, enforce_file_format=False)
        assert path.read_bytes()[128:132] != b"DICM"
        image = load_image(path)
        assert image.header.PatientID == "NOMETA"
        np.testing.assert_array_equal(image.stored, arr)

    def test_bundled_explicit_le_without_meta(self) -> None:
        """pydicom's Explicit VR LE file with no meta reads its header."""
        ds = read_header(get_testdata_file("ExplVR_LitEndNoMeta.dcm"))
        assert "SOPClassUID" in ds


class TestSpecialFiles:
    def test_fifo_is_named_and_never_opened(self, tmp_path: Path) -> None:
        """A FIFO says what it is; nothing reads from it (opening one would block)."""
        fifo = tmp_path / "pipe.dcm"
        os.mkfifo(fifo)
        fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # keeps a writer so a reader would not block
        try:
            os.write(fd, b"DICM? no")
            with pytest.raises(DicomReadError) as info:
                load_image(fifo)
            assert info.value.reason == "a FIFO (named pipe), not a file"
            with pytest.raises(DicomReadError, match=r"FIFO \(named pipe\)"):
                read_header(fifo)
            assert os.read(fd, 100) == b"DICM? no"  # still unread
        finally:
            os.close(fd)

    def test_device_file(self) -> None:
        """/dev/null is a device file, not an 'empty file (0 bytes)'."""
        with pytest.raises(DicomReadError) as info:
            load_image(os.devnull)
        assert info.value.reason == "a device file, not an image file"
