"""Grey-level LUT maths: VOI window functions, header windows, the modality LUT."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from detector.imaging.decode import full_range_window, load_image
from detector.imaging.lut import Window, apply_modality, header_windows, voi_to_unit


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
