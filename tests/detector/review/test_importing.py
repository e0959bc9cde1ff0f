"""Ground truth import: matching by patientId, bad rows, images not open, idempotence."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.review import BoxKind, ReviewState, open_session
from detector.review.importing import import_classes, import_labels
from detector.rsna.labels import LabelsError

LABELS = """patientId,x,y,width,height,Target
pa,10,20,30,40,1
pa,100,100,20,20,1
pb,,,,,0
pc,5,5,10,10,1
pa,1,2,oops,4,1
pb,1,1,0,5,1
"""


@pytest.fixture
def state() -> ReviewState:
    st = ReviewState(reviewer="t")
    st.add_image("1/0", "pa")
    st.add_image("2/0", "pb")
    return st


def write(tmp_path: Path, text: str, name: str = "labels.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


class TestImportLabels:
    def test_matches_open_images_by_patient_id(self, state: ReviewState, tmp_path: Path) -> None:
        report = import_labels(state, write(tmp_path, LABELS))
        truth = state.boxes("1/0", kind=BoxKind.GROUND_TRUTH)
        assert [b.xyxy for b in truth] == [(10.0, 20.0, 40.0, 60.0), (100.0, 100.0, 120.0, 120.0)]
        assert {b.origin for b in truth} == {"labels.csv"}
        assert state.boxes("2/0") == []
        assert (report.images, report.boxes_added) == (2, 2)

    def test_bad_rows_reported_with_line_numbers_and_skipped(
        self, state: ReviewState, tmp_path: Path
    ) -> None:
        report = import_labels(state, write(tmp_path, LABELS))
        assert report.skipped == 2
        assert report.problems[0].startswith("labels.csv:6: width is not a number")
        assert report.problems[1].startswith("labels.csv:7: box width and height must be > 0")
        assert "2 bad row(s) skipped" in report.summary()

    def test_rows_for_images_not_open_are_kept_and_counted(
        self, state: ReviewState, tmp_path: Path
    ) -> None:
        report = import_labels(state, write(tmp_path, LABELS))
        assert (report.not_open, report.kept) == (1, 1)
        state.add_image("3/0", "pc")
        assert [b.xyxy for b in state.boxes("3/0")] == [(5.0, 5.0, 15.0, 15.0)]

    def test_importing_twice_adds_nothing(self, tmp_path: Path) -> None:
        state, store = open_session(tmp_path / "s.sqlite")
        state.add_image("1/0", "pa")
        path = write(tmp_path, LABELS)
        import_labels(state, path)
        again = import_labels(state, path)
        assert (again.boxes_added, again.kept) == (0, 0)
        assert len(state.boxes("1/0")) == 2
        assert sum(len(v) for v in state.pending_truth.values()) == 1
        store.close()

    def test_unusable_file_raises_one_clear_error(self, state: ReviewState, tmp_path: Path) -> None:
        with pytest.raises(LabelsError, match="not a labels CSV: missing column"):
            import_labels(state, write(tmp_path, "a,b\n1,2\n", "x.csv"))


class TestImportClasses:
    def test_sets_class_of_open_images(self, state: ReviewState, tmp_path: Path) -> None:
        text = "patientId,class\npa,Lung Opacity\npb,Normal\npz,Normal\npb,Bogus\n"
        report = import_classes(state, write(tmp_path, text, "classes.csv"))
        assert state.image("1/0").rsna_class == "Lung Opacity"
        assert state.image("2/0").rsna_class == "Normal"
        assert (report.images, report.not_open, report.skipped) == (2, 1, 1)


class TestBoxesOutsideTheImage:
    def test_wholly_outside_boxes_are_imported_with_a_warning(
        self, state: ReviewState, tmp_path: Path
    ) -> None:
        """A box wholly outside its 100x80 image, or wholly at negative coordinates, is named
        with its line; a box inside (or partly outside) is not (issue 21.12)."""
        text = (
            "patientId,x,y,width,height,Target\n"
            "pa,10,10,20,20,1\n"
            "pa,500,10,20,20,1\n"
            "pb,-50,-50,20,20,1\n"
            "pb,90,70,20,20,1\n"
        )
        report = import_labels(state, write(tmp_path, text), sizes={"1/0": (80, 100)})
        assert report.problems == [
            "labels.csv:3: box (x=500, y=10, width=20, height=20) lies outside the 100x80 image pa",
            "labels.csv:4: box (x=-50, y=-50, width=20, height=20) lies outside the image pb",
        ]
        assert report.outside == 2 and report.boxes_added == 4
        assert report.summary().endswith("; warning: 2 box(es) wholly outside their image")


class TestReadInAWorker:
    """The hooks of the window's background import (issue 21): progress, cancel, a plan made
    without the review and applied in one step."""

    @staticmethod
    def many_rows(tmp_path: Path, n: int) -> Path:
        rows = "".join(f"q{i},1,2,3,4,1\n" for i in range(n - 1))
        return write(tmp_path, "patientId,x,y,width,height,Target\n" + rows + "pa,10,20,30,40,1\n")

    def test_progress_counts_lines_and_ends_at_the_total(self, tmp_path: Path) -> None:
        from detector.rsna.labels import read_labels

        calls: list[tuple[int, int]] = []
        labels = read_labels(self.many_rows(tmp_path, 12_000), progress=lambda *a: calls.append(a))
        assert labels.rows == 12_000
        assert calls == [(5001, 12_001), (10_001, 12_001), (12_001, 12_001)]

    def test_cancel_stops_the_read(self, tmp_path: Path) -> None:
        from detector.rsna.labels import ReadCancelled, read_labels

        asked: list[int] = []

        def cancelled() -> bool:
            asked.append(1)
            return True

        with pytest.raises(ReadCancelled):
            read_labels(self.many_rows(tmp_path, 12_000), cancelled=cancelled)
        assert asked == [1]  # at the first check, after 5000 rows

    def test_plan_touches_nothing_and_apply_rematches_images_opened_meanwhile(
        self, state: ReviewState, tmp_path: Path
    ) -> None:
        from detector.review.importing import apply_plan, open_patients, read_plan

        plan = read_plan(write(tmp_path, LABELS), open_patients(state))
        assert state.boxes(kind=BoxKind.GROUND_TRUTH) == []
        state.add_image("3/0", "pc")  # opened while the file was read
        report = apply_plan(state, plan)
        assert [b.xyxy for b in state.boxes("3/0", kind=BoxKind.GROUND_TRUTH)] == [(5, 5, 15, 15)]
        assert (report.boxes_added, report.images, report.not_open) == (3, 3, 0)
