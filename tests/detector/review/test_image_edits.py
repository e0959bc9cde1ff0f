"""Images of a review: registering, status, time on screen (state fixture in conftest)."""

from __future__ import annotations

import pytest

from detector.review import (
    BoxStatus,
    ImageStatus,
    ReviewError,
    ReviewState,
)

A = "1.2.3/0"
B = "1.2.4/0"


class TestImages:
    def test_add_image_twice_keeps_one(self, state: ReviewState) -> None:
        state.add_image(A, "pa")
        assert list(state.images) == [A, B]
        assert state.keys_for_patient("pa") == [A]

    def test_new_image_is_unreviewed_without_boxes(self, state: ReviewState) -> None:
        assert state.image(A).status is ImageStatus.UNREVIEWED
        assert state.boxes(A) == []
        assert state.progress() == (0, 2)

    def test_add_images_in_one_call(self, state: ReviewState) -> None:
        from detector.files.identity import ImageIdentity

        state.import_ground_truth({}, "labels.csv", {"pc": [(1, 2, 3, 4)]})
        added = state.add_images(
            [
                ImageIdentity("1.2.3/0", "pa", "/moved/pa.dcm", "1.2.3", 0),
                ImageIdentity("1.2.5/0", "pc", "/d/pc.dcm", "1.2.5", 0),
            ]
        )
        assert [im.key for im in added] == ["1.2.3/0", "1.2.5/0"]
        assert state.image(A).path == "/moved/pa.dcm"
        assert [b.xyxy for b in state.boxes("1.2.5/0")] == [(1.0, 2.0, 3.0, 4.0)]
        assert state.pending_truth == {}

    def test_unknown_image_raises(self, state: ReviewState) -> None:
        with pytest.raises(ReviewError, match="no image"):
            state.add_box("nope/0", (0, 0, 1, 1))


class TestStatus:
    def test_no_opacity_clears_findings_and_counts_as_reviewed(self, state: ReviewState) -> None:
        (p,) = state.set_predictions(A, "demo", [((0, 0, 9, 9), 0.9)])
        (gt,) = state.add_ground_truth(A, [(5, 5, 20, 20)], "labels.csv")
        state.mark_no_opacity(A)
        assert state.image(A).status is ImageStatus.NO_OPACITY
        assert state.box(p.id).status is BoxStatus.REJECTED
        assert state.box(gt.id).status is BoxStatus.DELETED
        assert state.progress() == (1, 2)

    def test_mark_reviewed(self, state: ReviewState) -> None:
        state.mark_reviewed(B)
        assert state.image(B).status is ImageStatus.REVIEWED
        assert state.progress() == (1, 2)

    def test_seconds_accumulate(self, state: ReviewState) -> None:
        state.add_seconds(A, 2.5)
        state.add_seconds(A, 1.0)
        state.add_seconds(A, float("nan"))
        assert state.image(A).seconds == pytest.approx(3.5)
