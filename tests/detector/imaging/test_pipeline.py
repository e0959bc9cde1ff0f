"""The one pixel pipeline: decode, modality LUT, VOI, presentation, enhancement."""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import JPEG2000Lossless, RLELossless

from detector.imaging.dicom_write import new_image_dataset, save_dataset
from detector.imaging.pipeline import (
    DicomReadError,
    Window,
    apply_modality,
    display_pixels,
    full_range_window,
    header_windows,
    load_image,
    quiet_pydicom,
    read_header,
    render,
    resize_display,
    to_gray,
    voi_to_unit,
)


def ramp(rows: int = 16, cols: int = 256, dtype=np.uint8) -> np.ndarray:
    return np.tile(np.arange(cols, dtype=np.int64), (rows, 1)).astype(dtype)


class TestLoadImage:
    def test_monochrome2_full_window_is_identity(self, make_dicom) -> None:
        """An 8-bit ramp windowed over 0..255 displays as itself."""
        path = make_dicom(pixels=ramp(), WindowCenter=128, WindowWidth=256)
        display = render(load_image(path))
        assert display.dtype == np.uint8
        np.testing.assert_array_equal(display, ramp())

    def test_monochrome1_is_shown_inverted(self, make_dicom) -> None:
        """MONOCHROME1: the lowest stored value is displayed white."""
        path = make_dicom(
            pixels=ramp(), photometric="MONOCHROME1", WindowCenter=128, WindowWidth=256
        )
        image = load_image(path)
        assert image.invert_default
        display = render(image)
        np.testing.assert_array_equal(display, 255 - ramp())
        np.testing.assert_array_equal(render(image, invert=False), ramp())

    def test_presentation_lut_inverse_is_honoured(self, make_dicom) -> None:
        """Presentation LUT Shape INVERSE on MONOCHROME2 inverts the display."""
        path = make_dicom(
            pixels=ramp(), WindowCenter=128, WindowWidth=256, PresentationLUTShape="INVERSE"
        )
        assert render(load_image(path))[0, 0] == 255

    def test_user_invert_toggles(self, make_dicom) -> None:
        """invert=True inverts a MONOCHROME2 image."""
        path = make_dicom(pixels=ramp(), WindowCenter=128, WindowWidth=256)
        np.testing.assert_array_equal(render(load_image(path), invert=True), 255 - ramp())

    def test_signed_16_bit_with_rescale(self, make_dicom) -> None:
        """Rescale slope/intercept give modality values (HU) before windowing."""
        stored = np.array([[-1000, 0, 1000, 3000]], dtype=np.int16)
        path = make_dicom(
            pixels=stored,
            RescaleSlope=2,
            RescaleIntercept=-1024,
            WindowCenter=-1024,
            WindowWidth=2,
            VOILUTFunction="LINEAR_EXACT",
        )
        image = load_image(path)
        np.testing.assert_allclose(image.modality, [[-3024, -1024, 976, 4976]])
        assert image.modality_value(0, 2) == pytest.approx(976)
        display = render(image)
        assert display[0, 0] == 0 and display[0, 2] == 255 and display[0, 3] == 255

    def test_every_header_window_is_offered_first_is_default(self, make_dicom) -> None:
        """Multi-valued Window Center/Width: all offered, the first is the default."""
        path = make_dicom(
            pixels=ramp(),
            WindowCenter=[40, 200],
            WindowWidth=[80, 100],
            WindowCenterWidthExplanation=["NARROW", "WIDE"],
        )
        image = load_image(path)
        assert [(w.center, w.width, w.name) for w in image.windows] == [
            (40, 80, "NARROW"),
            (200, 100, "WIDE"),
        ]
        assert image.default_window == image.windows[0]
        assert not np.array_equal(render(image), render(image, image.windows[1]))

    def test_voi_lut_sequence_is_used(self, make_dicom) -> None:
        """A VOI LUT Sequence maps modality values through its table."""
        item = Dataset()
        item.add_new("LUTDescriptor", "US", [4, 0, 8])  # 4 entries from value 0, 8 bits
        item.add_new("LUTData", "US", [0, 255, 0, 255])
        item.LUTExplanation = "ZIGZAG"
        path = make_dicom(pixels=np.array([[0, 1, 2, 3, 9]], dtype=np.uint8))
        ds = pydicom.dcmread(path)
        ds.VOILUTSequence = Sequence([item])
        ds.save_as(path)
        image = load_image(path)
        assert image.default_window.kind == "lut"
        assert image.default_window.label() == "ZIGZAG"
        np.testing.assert_array_equal(render(image), [[0, 255, 0, 255, 255]])

    def test_sigmoid_voi_function(self, make_dicom) -> None:
        """SIGMOID: the center maps to mid-grey, far values saturate."""
        stored = np.array([[0, 100, 200]], dtype=np.uint16)
        path = make_dicom(pixels=stored, WindowCenter=100, WindowWidth=50, VOILUTFunction="SIGMOID")
        display = render(load_image(path))
        assert display[0, 1] in (127, 128)
        assert display[0, 0] == 0 and display[0, 2] == 255

    def test_auto_window_when_header_has_none(self, make_dicom) -> None:
        """No window in the header: a robust percentile window ignores a few outliers."""
        rng = np.random.default_rng(0)
        stored = rng.integers(1000, 2000, (64, 64)).astype(np.uint16)
        stored[0, :4] = 60000  # hot pixels must not squash the contrast
        image = load_image(make_dicom(pixels=stored))
        assert image.windows == []
        win = image.default_window
        assert win.kind == "auto"
        assert 900 < win.center - win.width / 2 < 1100
        assert 1900 < win.center + win.width / 2 < 2100

    def test_multi_frame_any_frame(self, make_dicom) -> None:
        """Each frame of a multi-frame image decodes by index."""
        frames = np.stack([np.full((8, 8), v, np.uint8) for v in (10, 20, 30)])
        path = make_dicom(pixels=frames)
        for k, value in enumerate((10, 20, 30)):
            image = load_image(path, frame=k)
            assert image.n_frames == 3
            assert (image.stored == value).all()
        with pytest.raises(DicomReadError, match=r"frame 3 out of range \(the image has 3\)"):
            load_image(path, frame=3)

    def test_rgb_is_displayed_as_rgb_without_windowing(self, make_dicom) -> None:
        """Colour images come back as (rows, cols, 3) uint8 unchanged."""
        rgb = np.zeros((8, 8, 3), np.uint8)
        rgb[..., 0] = 200
        rgb[..., 2] = 50
        image = load_image(make_dicom(pixels=rgb, photometric="RGB"))
        assert image.is_color
        np.testing.assert_array_equal(render(image, Window(0, 1)), rgb)
        assert to_gray(render(image)).shape == (8, 8)

    def test_palette_colour(self) -> None:
        """PALETTE COLOR is expanded through its palette to RGB."""
        image = load_image(get_testdata_file("examples_palette.dcm"))
        assert image.is_color
        display = render(image)
        assert display.shape == (*image.shape, 3) and display.dtype == np.uint8
        assert display.max() > 200  # 16-bit palette entries scaled to 8 bits, not clipped

    def test_ybr_is_converted_to_rgb(self) -> None:
        """YBR_FULL_422 decodes to RGB."""
        image = load_image(get_testdata_file("SC_ybr_full_422_uncompressed.dcm"))
        assert image.is_color and render(image).shape[-1] == 3


class TestCompressedTransferSyntaxes:
    def _uncompressed(self, tmp_path: Path) -> tuple[np.ndarray, Dataset]:
        rng = np.random.default_rng(1)
        arr = rng.integers(0, 4096, (48, 40)).astype(np.uint16)
        return arr, new_image_dataset(arr, bits_stored=12)

    @pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless], ids=["rle", "j2k"])
    def test_lossless_matches_uncompressed_exactly(self, tmp_path: Path, syntax) -> None:
        """Lossless compressed pixels decode to exactly the uncompressed ones."""
        arr, ds = self._uncompressed(tmp_path)
        ds.compress(syntax)
        path = tmp_path / "compressed.dcm"
        save_dataset(ds, path)
        image = load_image(path)
        np.testing.assert_array_equal(image.stored, arr)

    def test_jpeg_ls_lossless_matches_uncompressed(self) -> None:
        """pydicom's JPEG-LS lossless file equals its uncompressed twin."""
        a = load_image(get_testdata_file("MR_small_jpeg_ls_lossless.dcm")).stored
        b = load_image(get_testdata_file("MR_small.dcm")).stored
        np.testing.assert_array_equal(a, b)

    def test_jpeg2000_lossless_bundled(self) -> None:
        """pydicom's JPEG 2000 lossless MR equals its uncompressed twin."""
        a = load_image(get_testdata_file("MR_small_jp2klossless.dcm")).stored
        b = load_image(get_testdata_file("MR_small.dcm")).stored
        np.testing.assert_array_equal(a, b)

    def test_jpeg_baseline_is_close(self, make_dicom) -> None:
        """JPEG Baseline (the RSNA format) decodes within lossy tolerance."""
        from tests.conftest import chest_like

        original = chest_like(64)
        image = load_image(make_dicom(pixels=original, jpeg=True))
        assert image.stored.dtype == np.uint8
        assert np.abs(image.stored.astype(int) - original).mean() < 4

    def test_jpeg_extended_12_bit(self) -> None:
        """JPEG Extended (12-bit) decodes."""
        image = load_image(get_testdata_file("JPGExtended.dcm"))
        assert image.stored.dtype == np.uint16 and image.stored.max() > 255


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


class TestWindowFunctions:
    def test_linear_matches_standard_formula(self) -> None:
        """LINEAR follows PS3.3 C.11.2.1.2.1 (c - 0.5, w - 1)."""
        unit = voi_to_unit(np.array([0.0, 40.0, 80.0]), Window(40, 80))
        np.testing.assert_allclose(unit, [0.0, 0.5 + 0.5 / 79, 1.0], atol=1e-9)

    def test_linear_exact(self) -> None:
        """LINEAR_EXACT maps c - w/2 .. c + w/2 onto 0..1."""
        unit = voi_to_unit(np.array([0.0, 50.0, 100.0]), Window(50, 100, "LINEAR_EXACT"))
        np.testing.assert_allclose(unit, [0.0, 0.5, 1.0])

    def test_sigmoid_needs_positive_width(self) -> None:
        """SIGMOID with width 0 is a ValueError naming the tag."""
        with pytest.raises(ValueError, match=r"\(0028,1051\) Window Width"):
            voi_to_unit(np.array([1.0]), Window(0, 0, "SIGMOID"))

    def test_invalid_header_widths_are_dropped(self) -> None:
        """A zero window width in the header is not offered."""
        ds = Dataset()
        ds.WindowCenter = [40, 50]
        ds.WindowWidth = [0, 100]
        assert [w.width for w in header_windows(ds)] == [100]

    def test_full_range_window_spans_modality_values(self, make_dicom) -> None:
        """Full range covers min..max modality value."""
        stored = np.array([[10, 20, 30]], dtype=np.uint16)
        image = load_image(make_dicom(pixels=stored, RescaleIntercept=-5))
        win = full_range_window(image)
        assert (win.center - win.width / 2, win.center + win.width / 2) == (5, 25)


class TestModalityLut:
    def test_modality_lut_sequence(self) -> None:
        """A Modality LUT Sequence replaces rescale."""
        item = Dataset()
        item.add_new("LUTDescriptor", "US", [3, 10, 16])
        item.add_new("LUTData", "US", [100, 200, 300])
        ds = Dataset()
        ds.ModalityLUTSequence = Sequence([item])
        out = apply_modality(np.array([9, 10, 11, 12, 50]), ds)
        np.testing.assert_array_equal(out, [100, 100, 200, 300, 300])


class TestRenderOptions:
    def test_rewindowing_uses_cached_stored_array(self, make_dicom) -> None:
        """Changing the window re-renders from the same decoded array."""
        image = load_image(make_dicom(pixels=ramp(4, 256, np.uint16)))
        a = render(image, Window(64, 32, "LINEAR_EXACT"))
        b = render(image, Window(192, 32, "LINEAR_EXACT"))
        assert a[0, 64] == 128 and b[0, 64] == 0 and b[0, 192] == 128
        assert a[0, 48] == 0 and a[0, 80] == 255

    @pytest.mark.parametrize("method", ["hist", "clahe"])
    def test_equalization_spreads_a_narrow_histogram(self, make_dicom, method) -> None:
        """Histogram equalization / CLAHE widen a low-contrast image."""
        rng = np.random.default_rng(2)
        low = rng.integers(100, 110, (64, 64)).astype(np.uint8)
        image = load_image(make_dicom(pixels=low, WindowCenter=128, WindowWidth=256))
        plain = render(image)
        eq = render(image, equalize=method)
        assert eq.dtype == np.uint8 and eq.shape == plain.shape
        assert np.ptp(eq) > 3 * np.ptp(plain)

    def test_bad_equalize_value(self, make_dicom) -> None:
        """An unknown enhancement name is a ValueError."""
        with pytest.raises(ValueError, match="equalize must be one of"):
            render(load_image(make_dicom()), equalize="sharpen")

    def test_display_pixels_with_window_pair(self, make_dicom) -> None:
        """display_pixels accepts a (center, width) pair."""
        path = make_dicom(pixels=ramp())
        out = display_pixels(path, window=(128, 256))
        np.testing.assert_array_equal(out, ramp())


class TestResize:
    def test_longer_side(self) -> None:
        """An int size sets the longer side and keeps the aspect ratio."""
        out = resize_display(np.zeros((100, 50), np.uint8), 40)
        assert out.shape == (40, 20)

    def test_antialiased_downscale_keeps_mean(self) -> None:
        """Downscaling a checkerboard gives mid-grey, not aliasing."""
        board = (np.indices((64, 64)).sum(0) % 2 * 255).astype(np.uint8)
        out = resize_display(board, 16)
        assert abs(float(out.mean()) - 127.5) < 3 and np.ptp(out) < 10


def _corrupt_soi(path: Path, out: Path) -> Path:
    """Copy of a JPEG Baseline DICOM whose SOI marker is overwritten with zeros."""
    data = bytearray(path.read_bytes())
    soi = data.index(b"\xff\xd8\xff")
    data[soi : soi + 2] = b"\x00\x00"
    out.write_bytes(bytes(data))
    return out


def _is_plain_reason(reason: str) -> bool:
    """A reason a reader can act on: no bare exception class, no cut-off plugin list."""
    text = reason.strip()
    return (
        bool(text)
        and re.fullmatch(r"[A-Za-z_.]*(Error|Exception|Warning)", text) is None
        and re.match(r"[A-Z]\w*(Error|Exception): ", text) is None
        and "all available plugins" not in text
        and not text.endswith(":")
        and "Traceback" not in text
    )


class TestDecoderReasons:
    def test_corrupt_jpeg_names_the_cause(self, make_dicom, tmp_path: Path) -> None:
        """A JPEG Baseline stream without its SOI marker says so, not 'all available plugins:'."""
        bad = _corrupt_soi(make_dicom(jpeg=True), tmp_path / "nosoi.dcm")
        with pytest.raises(DicomReadError) as info:
            load_image(bad)
        assert info.value.reason == (
            "corrupt JPEG Baseline stream "
            "(SOI marker missing: the data does not start like a JPEG image)"
        )

    def test_jpeg2000_header_damage(self) -> None:
        """pydicom's damaged JPEG 2000 file: the header cannot be read, in plain words."""
        with pytest.raises(DicomReadError) as info:
            load_image(get_testdata_file("JPEG2000-embedded-sequence-delimiter.dcm"))
        assert info.value.reason == (
            "corrupt JPEG 2000 Image Compression stream (the JPEG 2000 header cannot be read)"
        )

    def test_decoder_tracebacks_are_not_logged_once_quiet(
        self, make_dicom, tmp_path: Path, caplog
    ) -> None:
        """pydicom logs each plugin failure with a traceback at ERROR; quiet_pydicom hides it."""
        import logging

        bad = _corrupt_soi(make_dicom(jpeg=True), tmp_path / "nosoi.dcm")
        pyd = logging.getLogger("pydicom")
        old = pyd.level
        try:
            quiet_pydicom()
            with caplog.at_level(logging.INFO), pytest.raises(DicomReadError):
                load_image(bad)
        finally:
            pyd.setLevel(old)
        assert [r for r in caplog.records if r.name.startswith("pydicom")] == []


class TestOddButDecodableFiles:
    def test_empty_modality_lut_descriptor_with_voi_lut(self, tmp_path: Path) -> None:
        """16-bit image with a Modality LUT Sequence whose descriptor is empty plus a VOI LUT:
        the broken LUT is ignored with a warning, the VOI LUT still applies (was a TypeError)."""
        stored = ramp(8, 4096, np.uint16)
        ds = new_image_dataset(stored, bits_stored=12)
        mlut = Dataset()
        mlut.add_new(0x00283002, "US", None)  # LUT Descriptor, empty
        mlut.add_new(0x00283006, "US", [0, 1, 2])
        mlut.ModalityLUTType = "US"
        voi = Dataset()
        voi.add_new(0x00283002, "US", [4096, 0, 16])
        voi.add_new(0x00283006, "US", [4095 - v for v in range(4096)])  # a reversing LUT
        ds.ModalityLUTSequence = Sequence([mlut])
        ds.VOILUTSequence = Sequence([voi])
        path = tmp_path / "mlut_voi.dcm"
        save_dataset(ds, path)
        image = load_image(path)
        assert image.warnings == [
            "Modality LUT Sequence ignored: (0028,3002) LUT Descriptor is empty"
        ]
        display = render(image)
        assert display[0, 0] > 0 and display[0, -1] == 0  # reversed by the VOI LUT
        assert np.all(np.diff(display[0].astype(int)) <= 0)

    def test_stray_item_tag_with_vr_none(self, make_dicom, tmp_path: Path) -> None:
        """An Item tag (FFFE,E000) among the elements (VR 'NONE' in pydicom) is dropped; the
        image renders (was NotImplementedError: Unknown Value Representation)."""
        path = make_dicom(pixels=ramp(), ProtocolName="ABCDEFGH", WindowCenter=128, WindowWidth=256)
        data = path.read_bytes()
        element = struct.pack("<HH", 0x0018, 0x1030) + b"LO" + struct.pack("<H", 8) + b"ABCDEFGH"
        assert data.count(element) == 1
        item = struct.pack("<HHI", 0xFFFE, 0xE000, 8) + b"ABCDEFGH"
        odd = tmp_path / "us_item_tag.dcm"
        odd.write_bytes(data.replace(element, item))
        np.testing.assert_array_equal(render(load_image(odd)), ramp())
        assert read_header(odd).Rows == 16

    def test_stray_item_tag_inside_a_sequence_item(self, tmp_path: Path) -> None:
        """The same inside a sequence item: the header can still be walked (metadata panel)."""
        item = Dataset()
        item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
        item.ProtocolName = "ABCDEFGH"
        ds = new_image_dataset(ramp(), WindowCenter=128, WindowWidth=256)
        ds.ReferencedImageSequence = Sequence([item])
        path = tmp_path / "nested.dcm"
        save_dataset(ds, path)
        data = path.read_bytes()
        element = struct.pack("<HH", 0x0018, 0x1030) + b"LO" + struct.pack("<H", 8) + b"ABCDEFGH"
        assert data.count(element) == 1
        path.write_bytes(data.replace(element, struct.pack("<HHI", 0xFFFE, 0xE000, 8) + bytes(8)))
        for header in (read_header(path), load_image(path).header):
            walked = [elem.tag for elem in header.iterall()]
            assert 0x00081150 in walked and 0xFFFEE000 not in walked


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


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_every_pydicom_test_file_renders_or_gives_a_plain_reason() -> None:
    """pydicom's own test corpus: what pydicom decodes renders; the rest fail in plain words."""
    from pydicom.data import get_testdata_files

    files = [f for f in get_testdata_files() if os.path.isfile(f)]
    assert len(files) > 50
    raw_errors, not_rendered, vague = [], [], []
    for path in files:
        try:
            ds = pydicom.dcmread(path, force=True)
            pydicom_decodes = ds.pixel_array.size > 0
        except Exception:  # noqa: BLE001 - pydicom's verdict only
            pydicom_decodes = False
        try:
            display = render(load_image(path))
            assert display.dtype == np.uint8
        except DicomReadError as err:
            if pydicom_decodes:
                not_rendered.append((Path(path).name, err.reason))
            if not _is_plain_reason(err.reason):
                vague.append((Path(path).name, err.reason))
        except Exception as exc:  # noqa: BLE001 - exactly what this test hunts
            raw_errors.append((Path(path).name, f"{type(exc).__name__}: {exc}"))
    assert raw_errors == []
    assert not_rendered == []
    assert vague == []
