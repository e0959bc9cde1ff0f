"""The worklist's rule: rows, sort (no predictions = lowest "max"), filters, next unreviewed."""

from __future__ import annotations

import pytest

from detector.review import ImageStatus, ReviewState
from detector.review.worklist import (
    WorklistView,
    next_unreviewed,
    step_in_order,
    worklist_rows,
)

KEYS = ["k0", "k1", "k2", "k3"]


@pytest.fixture
def review() -> ReviewState:
    """k0: no predictions; k1: 0.9 matching its GT; k2: 0.0 and 0.6 (no GT); k3: GT only."""
    st = ReviewState(reviewer="dr_a")
    for i, key in enumerate(KEYS):
        st.add_image(key, f"p{i}")
    st.set_predictions("k1", "m", [((0, 0, 10, 10), 0.9)])
    st.add_ground_truth("k1", [(0, 0, 10, 10)], "gt.csv")
    st.set_predictions("k2", "m", [((0, 0, 10, 10), 0.0), ((20, 20, 30, 30), 0.6)])
    st.add_ground_truth("k3", [(0, 0, 10, 10)], "gt.csv")
    return st


def _order(review: ReviewState, view: WorklistView, keep: str | None = None) -> list[str]:
    rows = worklist_rows(review, KEYS, threshold=0.0, iou_threshold=0.5)
    return [r.key for r in view.arrange(rows, keep=keep)]


class TestWorklistRows:
    def test_rows_in_load_order_unknown_keys_left_out(self, review: ReviewState) -> None:
        rows = worklist_rows(review, ["k2", "nope", "k0"], threshold=0.5, iou_threshold=0.5)
        assert [(r.key, r.patient_id, r.position) for r in rows] == [
            ("k2", "p2", 0),
            ("k0", "p0", 2),
        ]
        assert (rows[0].counts.predictions, rows[0].counts.max_score) == (1, 0.6)


class TestWorklistViewArrange:
    def test_default_is_load_order(self, review: ReviewState) -> None:
        assert _order(review, WorklistView()) == ["k0", "k1", "k2", "k3"]

    def test_max_descending_puts_no_predictions_last(self, review: ReviewState) -> None:
        # k2's best is 0.6; k0 and k3 have none: lowest, after k2, in load order.
        assert _order(review, WorklistView("max", descending=True)) == ["k1", "k2", "k0", "k3"]

    def test_max_ascending_puts_no_predictions_first(self, review: ReviewState) -> None:
        assert _order(review, WorklistView("max")) == ["k0", "k3", "k2", "k1"]

    def test_a_zero_score_is_above_no_prediction(self, review: ReviewState) -> None:
        review.set_predictions("k2", "m", [((0, 0, 10, 10), 0.0)])
        assert _order(review, WorklistView("max", descending=True)) == ["k1", "k2", "k0", "k3"]

    def test_disagreement_descending(self, review: ReviewState) -> None:
        # k2: 2 unmatched predictions; k3: 1 missed GT; k1 matched; k0 nothing.
        assert _order(review, WorklistView("disagree", descending=True)) == ["k2", "k3", "k0", "k1"]

    def test_status_then_load_order(self, review: ReviewState) -> None:
        review.mark_reviewed("k0")
        review.mark_no_opacity("k2")
        assert _order(review, WorklistView("status")) == ["k1", "k3", "k0", "k2"]

    def test_filters(self, review: ReviewState) -> None:
        review.mark_reviewed("k3")
        assert _order(review, WorklistView(filter="unreviewed")) == ["k0", "k1", "k2"]
        assert _order(review, WorklistView(filter="disagreements only")) == ["k2", "k3"]
        assert _order(review, WorklistView(filter="positive by model")) == ["k1", "k2"]

    def test_keep_lists_the_image_on_screen_in_its_sorted_place(self, review: ReviewState) -> None:
        view = WorklistView("max", descending=True, filter="positive by model")
        assert _order(review, view, keep="k0") == ["k1", "k2", "k0"]

    def test_unknown_column_or_filter_is_refused(self, review: ReviewState) -> None:
        with pytest.raises(ValueError, match="unknown worklist column 'size'"):
            _order(review, WorklistView("size"))
        with pytest.raises(ValueError, match="unknown worklist filter 'odd'"):
            _order(review, WorklistView(filter="odd"))


class TestNextUnreviewed:
    def test_follows_the_sorted_order_and_wraps(self, review: ReviewState) -> None:
        rows = WorklistView("max", descending=True).arrange(
            worklist_rows(review, KEYS, threshold=0.0, iou_threshold=0.5)
        )  # k1, k2, k0, k3
        assert next_unreviewed(rows, "k2") == "k0"  # load order would say k3
        review.mark_reviewed("k0")
        review.mark_reviewed("k3")
        rows = WorklistView("max", descending=True).arrange(
            worklist_rows(review, KEYS, threshold=0.0, iou_threshold=0.5)
        )
        assert next_unreviewed(rows, "k2") == "k1"  # wrapped to the top
        assert next_unreviewed(rows, None) == "k1"

    def test_none_when_all_finished(self, review: ReviewState) -> None:
        for key in KEYS:
            review.mark_reviewed(key)
        rows = worklist_rows(review, KEYS, threshold=0.0, iou_threshold=0.5)
        assert next_unreviewed(rows, "k0") is None
        assert review.image("k0").status is ImageStatus.REVIEWED


class TestStepInOrder:
    def test_steps_without_wrapping(self) -> None:
        assert step_in_order(["a", "b", "c"], "b", 1) == "c"
        assert step_in_order(["a", "b", "c"], "b", -1) == "a"
        assert step_in_order(["a", "b", "c"], "c", 1) is None
        assert step_in_order(["a", "b", "c"], "a", -1) is None

    def test_from_outside_the_list(self) -> None:
        assert step_in_order(["a", "b"], None, 1) == "a"
        assert step_in_order(["a", "b"], "z", -1) == "b"
        assert step_in_order([], "a", 1) is None
