"""Grey-level LUT maths: VOI window functions, header windows, the modality LUT."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_files
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels import apply_modality_lut, apply_voi_lut, apply_windowing, pixel_array
from pydicom.sequence import Sequence

from detector.imaging.decode import full_range_window, load_image
from detector.imaging.lut import Window, apply_modality, header_windows, voi_to_unit
from detector.imaging.render import render


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

    @pytest.mark.parametrize(("slope", "intercept"), [("1e30", "0"), ("1", "-1e300")])
    def test_absurd_rescale_is_ignored_not_overflowed(self, slope, intercept) -> None:
        """A slope or intercept that would overflow float32 reads as the identity (fuzz find):
        before, it gave inf/NaN modality values and a garbage, warning-laden display."""
        ds = Dataset()
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        out = apply_modality(np.array([0, 4095, 65535]), ds)
        np.testing.assert_array_equal(out, [0, 4095, 65535])

    def test_sigmoid_far_outside_its_window_is_black_without_warnings(self) -> None:
        """exp() overflowing in SIGMOID maps to 0 without a numpy RuntimeWarning."""
        window = Window(center=1e6, width=1.0, function="SIGMOID")
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            out = voi_to_unit(np.array([0.0, 2e6]), window)
        np.testing.assert_array_equal(out, [0.0, 1.0])


# ---------------------------------------------------------------------------------------------
# Our LUT maths against pydicom's own (pydicom.pixels.apply_modality_lut / apply_voi_lut /
# apply_windowing) on every local pydicom test file it applies to.

_LUT_KEYWORDS = (
    "WindowCenter",
    "WindowWidth",
    "VOILUTSequence",
    "RescaleSlope",
    "RescaleIntercept",
    "ModalityLUTSequence",
)


def _grey_files_with_a_lut() -> list[str]:
    """pydicom's local test files that are grey and have a window, a VOI LUT or a modality LUT.

    Only files already on disk (``get_testdata_files`` never downloads); whether they decode is
    decided in the test, with pydicom's own decoder.
    """
    found = []
    for path in get_testdata_files():
        if not os.path.isfile(path):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path, stop_before_pixels=True)
            photometric = str(ds.get("PhotometricInterpretation", "")).strip().upper()
            samples = int(ds.get("SamplesPerPixel", 1) or 1)
        except Exception:  # noqa: BLE001 - not DICOM, or a header pydicom cannot read: not ours
            continue
        if photometric in ("MONOCHROME1", "MONOCHROME2") and samples == 1:
            if any(keyword in ds for keyword in _LUT_KEYWORDS):
                found.append(path)
    return sorted(found)


_LUT_FILES = _grey_files_with_a_lut()
_DATA_ROOT = os.path.commonpath(_LUT_FILES) if _LUT_FILES else ""


def _pydicom_window_range(ds: Dataset) -> tuple[float, float]:
    """The output range of pydicom's ``apply_windowing`` (as its code and docstring define it).

    The range of the stored values (0..2**BitsStored - 1 unsigned, -2**(BitsStored - 1)..
    2**(BitsStored - 1) - 1 signed; 0..2**n - 1 of a Modality LUT of n bits) put through Rescale
    Slope and Intercept when both are present. Ours is always [0, 1].
    """
    bits = int(ds.BitsStored)
    if ds.get("ModalityLUTSequence"):
        y_min, y_max = 0.0, float(2 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1)
    elif int(ds.PixelRepresentation) == 0:
        y_min, y_max = 0.0, float(2**bits - 1)
    else:
        y_min, y_max = float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    if "RescaleSlope" in ds and "RescaleIntercept" in ds:
        slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
        y_min, y_max = y_min * slope + intercept, y_max * slope + intercept
    return y_min, y_max


def _values(value: object) -> list[float]:
    return [float(v) for v in (value if isinstance(value, MultiValue | list) else [value])]


#: Our modality values are float32 (pydicom's float64): 1e-6 relative is float32 rounding.
MODALITY_RTOL = 1e-6
#: VOI output on [0, 1]: a quarter of one 8-bit display step.
VOI_ATOL = 0.25 / 255


class TestAgainstPydicom:
    """Stored -> modality -> VOI agrees with pydicom; the display step adds only our inversion.

    Deliberate differences, each checked below where a file has it: MONOCHROME1 (and Presentation
    LUT Shape INVERSE) is displayed inverted (pydicom never inverts, see STYLE.md); a LINEAR width
    below 1, or any width <= 0, is not offered as a window (pydicom raises ValueError); pydicom's
    windowing outputs the stored-value range, ours [0, 1], so theirs is rescaled to [0, 1].
    Two more, which no local file has: we apply Rescale Slope or Intercept alone (pydicom needs
    both), and read a LUT's first mapped value as signed for signed pixels (pydicom as stored).
    """

    def test_the_local_test_files_include_windows_rescale_and_monochrome1(self) -> None:
        """The comparison below is not vacuous: it covers all three kinds of file."""
        assert len(_LUT_FILES) >= 20
        headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in _LUT_FILES]
        assert any("WindowCenter" in ds for ds in headers)
        assert any("RescaleSlope" in ds and float(ds.RescaleSlope) != 1.0 for ds in headers) or any(
            "RescaleIntercept" in ds and float(ds.RescaleIntercept) != 0.0 for ds in headers
        )
        assert any(ds.PhotometricInterpretation == "MONOCHROME1" for ds in headers)

    @pytest.mark.filterwarnings("ignore::UserWarning")
    @pytest.mark.parametrize(
        "path", _LUT_FILES, ids=[os.path.relpath(p, _DATA_ROOT) for p in _LUT_FILES]
    )
    def test_lut_maths_matches_pydicom(self, path: str) -> None:
        """Decoded frame, modality values, every window / VOI LUT and the 8-bit display."""
        ds = pydicom.dcmread(path)
        n_frames = int(ds.get("NumberOfFrames", 1) or 1)
        try:
            stored = pixel_array(ds, index=0) if n_frames > 1 else ds.pixel_array
        except Exception as exc:  # noqa: BLE001 - out of scope: pydicom cannot decode it either
            pytest.skip(f"pydicom cannot decode it ({type(exc).__name__})")
        image = load_image(path)  # where pydicom decodes, we must too
        np.testing.assert_array_equal(image.stored, stored)

        # Modality LUT (PS3.3 C.11.1)
        theirs_modality = apply_modality_lut(stored, ds)
        ours_modality = apply_modality(image.stored, image.header)
        assert ours_modality.dtype == np.float32
        np.testing.assert_allclose(ours_modality, theirs_modality, rtol=MODALITY_RTOL, atol=1e-6)

        invert = str(ds.PhotometricInterpretation) == "MONOCHROME1" or (
            str(ds.get("PresentationLUTShape", "")).strip().upper() == "INVERSE"
        )
        assert image.invert_default is invert
        compared = 0

        # VOI LUT Sequence items (PS3.3 C.11.2.1.1): pydicom returns the LUT's own values.
        for window in (w for w in image.windows if w.kind == "lut"):
            item = ds.VOILUTSequence[window.lut_index]
            top = max(2 ** int(item.LUTDescriptor[2]) - 1, max(_values(item.LUTData)))
            theirs = apply_voi_lut(theirs_modality.astype(np.int64), ds, index=window.lut_index)
            ours = voi_to_unit(ours_modality, window, image.header)
            np.testing.assert_allclose(ours * top, theirs, atol=VOI_ATOL * top)
            compared += 1

        # Window Center / Width (PS3.3 C.11.2.1.2, C.11.2.1.3)
        if "WindowCenter" in ds and "WindowWidth" in ds:
            function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").strip().upper()
            offered = {(w.center, w.width): w for w in image.windows if w.kind == "window"}
            centers, widths = _values(ds.WindowCenter), _values(ds.WindowWidth)
            y_min, y_max = _pydicom_window_range(ds)
            for index, (center, width) in enumerate(zip(centers, widths, strict=False)):
                if width <= 0 or (function == "LINEAR" and width < 1):
                    assert (center, width) not in offered  # pydicom raises ValueError here
                    continue
                window = offered[(center, width)]
                assert window.function == function
                theirs = apply_windowing(theirs_modality, ds, index=index)
                theirs_unit = (theirs - y_min) / (y_max - y_min)
                ours = voi_to_unit(ours_modality, window, image.header)
                np.testing.assert_allclose(ours, theirs_unit, atol=VOI_ATOL)

                # The 8-bit display: pydicom's [0, 1] value, inverted for MONOCHROME1 / INVERSE,
                # rounded to 0..255; one step of rounding apart at most (float32 vs float64).
                expected = np.rint(255.0 * ((1.0 - theirs_unit) if invert else theirs_unit))
                display = render(image, window).astype(np.float64)
                assert np.abs(display - expected).max() <= 1.0
                assert np.mean(display == expected) >= 0.99
                compared += 1
        if "WindowCenter" in ds or "VOILUTSequence" in ds:
            assert compared > 0, "the header has a window or a VOI LUT, and none was compared"


class TestAgainstPydicomLutSequences:
    """The LUT Sequence branches, which no local pydicom test file has, on inline datasets."""

    @staticmethod
    def _dataset(pixel_representation: int = 0) -> Dataset:
        ds = Dataset()
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
        ds.PixelRepresentation = pixel_representation
        return ds

    @staticmethod
    def _lut_item(descriptor: list[int], data: list[int]) -> Dataset:
        item = Dataset()
        item.add_new("LUTDescriptor", "US", descriptor)
        item.add_new("LUTData", "US", data)
        return item

    def test_modality_lut_sequence(self) -> None:
        """Below the first mapped value -> first entry, above the table -> last entry."""
        ds = self._dataset()
        data = list(range(0, 2560, 10))  # 256 entries: 0, 10, ..., 2550
        ds.ModalityLUTSequence = Sequence([self._lut_item([256, 100, 16], data)])
        stored = np.array([[0, 99, 100, 150], [355, 356, 4000, 4095]], dtype=np.uint16)
        theirs = apply_modality_lut(stored, ds)
        ours = apply_modality(stored, ds)
        np.testing.assert_array_equal(ours, theirs)
        np.testing.assert_array_equal(ours, [[0, 0, 0, 500], [2550, 2550, 2550, 2550]])

    @pytest.mark.parametrize(("bits", "scale"), [(8, 1), (12, 16)])
    def test_voi_lut_sequence(self, bits: int, scale: int) -> None:
        """Our [0, 1] value times 2**bits - 1 is pydicom's LUT output, for 8 and 12 bit LUTs."""
        ds = self._dataset()
        data = [255 * scale - 3 * i * scale for i in range(64)]  # a falling 64-entry ramp
        ds.VOILUTSequence = Sequence([self._lut_item([64, 1000, bits], data)])
        values = np.array([0, 999, 1000, 1001, 1031, 1063, 1064, 3000], dtype=np.int64)
        window = header_windows(ds)[0]
        assert window.kind == "lut"
        theirs = apply_voi_lut(values, ds, index=0)
        ours = voi_to_unit(values.astype(np.float64), window, ds)
        np.testing.assert_allclose(ours * (2**bits - 1), theirs, atol=1e-9)
        first, last = 255 * scale, (255 - 3 * 63) * scale
        np.testing.assert_array_equal(
            theirs, [first, first, first, first - 3 * scale, first - 93 * scale, last, last, last]
        )
