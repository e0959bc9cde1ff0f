"""The "most informative first" order, on hand-built sessions (expected orders by hand)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from detector.review import ModelInfo, ReviewState
from detector.review.informative import decision_score, uncertainty
from detector.review.worklist import (
    INFORMATIVE,
    WorklistView,
    next_unreviewed,
    worklist_rows,
)

KEYS = [f"k{i}" for i in range(7)]
BOX = (0.0, 0.0, 10.0, 10.0)
FAR = (50.0, 50.0, 60.0, 60.0)


def _clock() -> Callable[[], float]:
    ticks = iter(range(1000, 10**6))
    return lambda: float(next(ticks))


@pytest.fixture
def review() -> ReviewState:
    """Model ``m`` with image gate 0.6 (box threshold 0.3); seven images:

    k0: best 0.95 (|d| 0.35); k1: best 0.55 (|d| 0.05); k2: no model run;
    k3: best 0.65 (|d| 0.05) and a ground-truth box far from it (disagreement 2);
    k4: the model ran and kept nothing (best 0, |d| 0.6); k5: best 0.62 (|d| 0.02), reviewed;
    k6: no model run, ground truth only.
    """
    st = ReviewState(reviewer="dr_a", clock=_clock())
    for i, key in enumerate(KEYS):
        st.add_image(key, f"p{i}")
    st.add_model(ModelInfo("m", threshold=0.3, meta={"threshold": 0.3, "image_threshold": 0.6}))
    st.set_predictions("k0", "m", [(BOX, 0.95), (FAR, 0.4)])
    st.set_predictions("k1", "m", [(BOX, 0.55)])
    st.set_predictions("k3", "m", [(BOX, 0.65)])
    st.add_ground_truth("k3", [FAR], "gt.csv")
    st.set_predictions("k4", "m", [])
    st.set_predictions("k5", "m", [(BOX, 0.62)])
    st.mark_reviewed("k5")
    st.add_ground_truth("k6", [BOX], "gt.csv")
    return st


def _order(review: ReviewState, threshold: float = 0.0) -> list[str]:
    rows = worklist_rows(review, KEYS, threshold=threshold, iou_threshold=0.5)
    return [r.key for r in WorklistView(INFORMATIVE).arrange(rows)]


class TestDecisionScore:
    def test_the_higher_of_image_and_box_threshold(self) -> None:
        assert (
            decision_score(ModelInfo("m", meta={"threshold": 0.3, "image_threshold": 0.6})) == 0.6
        )
        assert (
            decision_score(ModelInfo("m", meta={"threshold": 0.7, "image_threshold": 0.2})) == 0.7
        )

    def test_no_gate_in_the_metadata_is_the_recorded_threshold(self) -> None:
        assert decision_score(ModelInfo("m", threshold=0.4)) == 0.4

    def test_a_tampered_gate_falls_back_to_the_recorded_threshold(self) -> None:
        meta = {"threshold": "lots", "image_threshold": float("nan")}
        assert decision_score(ModelInfo("m", threshold=0.45, meta=meta)) == 0.45


class TestInformativeOrder:
    def test_closest_to_the_gate_first_then_disagreement_then_no_run_then_finished(
        self, review: ReviewState
    ) -> None:
        # k1 and k3 tie at 0.05: k3 disagrees with its ground truth (2), k1 does not (0).
        assert _order(review) == ["k3", "k1", "k0", "k4", "k2", "k6", "k5"]

    def test_the_reader_threshold_does_not_change_the_model_view(self, review: ReviewState) -> None:
        # At 0.9 only k0's 0.95 box counts for the "max" column; uncertainty uses every box.
        # k3's disagreement is now its ground-truth box alone (1), still above k1's (0).
        assert _order(review, threshold=0.9) == ["k3", "k1", "k0", "k4", "k2", "k6", "k5"]

    def test_uncertainty_values(self, review: ReviewState) -> None:
        assert [uncertainty(review, k) for k in KEYS] == [0.35, 0.05, None, 0.05, 0.6, 0.02, None]

    def test_no_model_is_load_order_with_finished_last(self) -> None:
        st = ReviewState(reviewer="dr_a")
        for i, key in enumerate(KEYS[:3]):
            st.add_image(key, f"p{i}")
        st.mark_no_opacity("k0")
        rows = worklist_rows(st, KEYS[:3], threshold=0.0, iou_threshold=0.5)
        assert [r.key for r in WorklistView(INFORMATIVE).arrange(rows)] == ["k1", "k2", "k0"]

    def test_a_decision_by_the_reader_does_not_hide_the_model_score(
        self, review: ReviewState
    ) -> None:
        (box,) = review.boxes("k1")
        review.reject(box.id)  # k1 is now in progress, its only box rejected
        assert uncertainty(review, "k1") == 0.05

    def test_predictions_of_an_older_model_do_not_count(self, review: ReviewState) -> None:
        review.add_model(ModelInfo("m2", threshold=0.5))
        review.set_predictions("k2", "m2", [(BOX, 0.5)])
        # Only k2 has a run of m2 (|0.5 - 0.5| = 0); the others are "not run" in load order.
        assert _order(review) == ["k2", "k0", "k1", "k3", "k4", "k6", "k5"]

    def test_next_unreviewed_in_the_order(self, review: ReviewState) -> None:
        rows = WorklistView(INFORMATIVE).arrange(
            worklist_rows(review, KEYS, threshold=0.0, iou_threshold=0.5)
        )
        assert next_unreviewed(rows, None) == "k3"
        assert next_unreviewed(rows, "k3") == "k1"
        assert next_unreviewed(rows, "k5") == "k3"  # a finished image: back to the top
