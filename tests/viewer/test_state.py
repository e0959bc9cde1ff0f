"""ViewerState: the Qt-free model."""

from __future__ import annotations

import numpy as np

from detector.files.scan import scan_file
from detector.imaging.decode import load_image
from viewer.state import ViewerState


def _state_with(paths) -> ViewerState:
    state = ViewerState()
    state.add_scan_items(scan_file(str(p)) for p in paths)
    return state


class TestAddScanItems:
    def test_images_sorted_and_problems_kept(self, make_dicom, tmp_path):
        """Images come out in instance order; unreadable files become problems."""
        b = make_dicom(
            "b.dcm",
            InstanceNumber=2,
            PatientID="P",
            StudyInstanceUID="1.2",
            SeriesInstanceUID="1.2.3",
        )
        a = make_dicom(
            "a.dcm",
            InstanceNumber=1,
            PatientID="P",
            StudyInstanceUID="1.2",
            SeriesInstanceUID="1.2.3",
        )
        bad = tmp_path / "bad.dcm"
        bad.write_bytes(b"")
        state = _state_with([b, a, bad])
        assert [i.name for i in state.images()] == ["a.dcm", "b.dcm"]
        assert [p.reason for p in state.problems] == ["empty file (0 bytes)"]

    def test_duplicates_ignored(self, make_dicom):
        """Opening the same file twice lists it once."""
        a = make_dicom("a.dcm")
        state = _state_with([a])
        added = state.add_scan_items([scan_file(str(a))])
        assert added == [] and len(state.images()) == 1

    def test_nothing_open(self):
        """An empty state has no images and stepping selects nothing."""
        state = ViewerState()
        assert state.images() == [] and state.step(1) is None


class TestStep:
    def test_clamps_at_both_ends(self, make_dicom):
        """Next past the last image stays on the last; previous before the first stays."""
        paths = [
            make_dicom(f"{i}.dcm", InstanceNumber=i, StudyInstanceUID="1", SeriesInstanceUID="1.1")
            for i in range(1, 4)
        ]
        state = _state_with(paths)
        state.go_to(0)
        assert state.step(-1).instance_number == 1
        state.step(5)
        assert state.current.instance_number == 3
        assert state.go_to(-1).instance_number == 3


class TestApplyPreset:
    def test_header_key_cycles_header_windows(self, make_dicom):
        """Key 1 moves through every header window, then wraps."""
        path = make_dicom(WindowCenter=[100, 50], WindowWidth=[200, 80])
        state = _state_with([path])
        state.go_to(0)
        state.set_image(load_image(path))
        assert state.effective_window.center == 100
        assert state.apply_preset("Header").center == 50
        assert state.apply_preset("Header").center == 100

    def test_custom_window_then_header_returns_to_first(self, make_dicom):
        """After a drag, key 1 restores the first header window."""
        path = make_dicom(WindowCenter=[100, 50], WindowWidth=[200, 80])
        state = _state_with([path])
        state.go_to(0)
        state.set_image(load_image(path))
        state.apply_preset("Lung")
        assert state.preset == "Lung"
        assert state.apply_preset("Header").center == 100


class TestRender:
    def test_monochrome1_inverted_and_toggle(self, make_dicom):
        """MONOCHROME1 renders inverted; the invert toggle flips it back."""
        pixels = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (64, 1))
        m1 = make_dicom("m1.dcm", pixels, photometric="MONOCHROME1")
        m2 = make_dicom("m2.dcm", pixels)
        state = ViewerState()
        state.image = load_image(m2)
        normal = state.render().copy()
        state.image = load_image(m1)
        inverted = state.render()
        # Rounding of the inverted LUT may differ by one grey level at .5 boundaries.
        np.testing.assert_allclose(inverted.astype(int), 255 - normal.astype(int), atol=1)
        assert inverted[0, 0] > 250 and normal[0, 0] < 5
        state.toggle_invert()
        np.testing.assert_array_equal(state.render(), normal)


class TestSetReviewed:
    def test_signal_and_flag(self, make_dicom):
        """Marking an image reviewed emits once; repeating is a no-op."""
        state = _state_with([make_dicom()])
        inst = state.images()[0]
        seen = []
        state.reviewed_changed.connect(lambda uid, flag: seen.append(flag))
        state.set_reviewed(inst, True)
        state.set_reviewed(inst, True)
        state.set_reviewed(inst, False)
        assert seen == [True, False] and not state.is_reviewed(inst)
