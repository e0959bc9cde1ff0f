"""Decoding one frame: load_image on plain, compressed, colour and odd-but-valid files."""

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

from detector.imaging.decode import load_image
from detector.imaging.dicom_write import new_image_dataset, save_dataset
from detector.imaging.lut import Window
from detector.imaging.read import DicomReadError, quiet_pydicom, read_header
from detector.imaging.render import render, to_gray
from tests.detector.imaging.pixels import ramp


class TestLoadImage:
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
