"""Ground truth against the model: worklist counts, comparison, RSNA score."""

from __future__ import annotations

import pytest

from detector.review import (
    ReviewState,
)

A = "1.2.3/0"
B = "1.2.4/0"


class TestComparisons:
    def test_counts_for_worklist(self, state: ReviewState) -> None:
        state.add_ground_truth(A, [(0, 0, 10, 10), (50, 50, 60, 60)], "labels.csv")
        state.set_predictions(
            A, "demo", [((0, 0, 10, 11), 0.9), ((80, 80, 90, 90), 0.6), ((30, 30, 35, 35), 0.1)]
        )
        c = state.counts(A, threshold=0.5, iou_threshold=0.5)
        # One truth box matched; one truth and one prediction left over.
        assert (c.predictions, c.max_score, c.ground_truth, c.disagreement) == (2, 0.9, 2, 2)
        empty = state.counts(B)
        assert (empty.predictions, empty.max_score, empty.disagreement) == (0, None, 0)

    def test_compare_marks_matched_missed_and_false_positives(self, state: ReviewState) -> None:
        hit, miss = state.add_ground_truth(A, [(0, 0, 10, 10), (50, 50, 60, 60)], "labels.csv")
        good, fp, low = state.set_predictions(
            A, "demo", [((1, 0, 10, 10), 0.9), ((80, 80, 90, 90), 0.6), ((50, 50, 60, 60), 0.1)]
        )
        cmp = state.compare(A, threshold=0.5, iou_threshold=0.5)
        assert cmp.matched == ((hit.id, good.id),)
        assert cmp.missed == (miss.id,)
        assert cmp.false_positives == (fp.id,)
        # IoU of the match is 0.9: at every RSNA IoU threshold TP=1, FP=1, FN=1 -> 1/3.
        assert cmp.rsna_score == pytest.approx(1 / 3)
        # Lowering the threshold lets the low-score box find the missed one.
        assert state.compare(A, threshold=0.0).missed == ()
        assert state.compare(B).matched == () and state.compare(B).rsna_score is None

    def test_rsna_score_per_image(self, state: ReviewState) -> None:
        state.add_ground_truth(A, [(0, 0, 10, 10)], "labels.csv")
        state.set_predictions(A, "demo", [((0, 0, 10, 10), 0.9), ((50, 50, 60, 60), 0.3)])
        # Perfect match alone: TP at every IoU threshold -> 1; with the extra FP -> 1/2.
        assert state.rsna_score(A, threshold=0.5) == pytest.approx(1.0)
        assert state.rsna_score(A, threshold=0.0) == pytest.approx(0.5)
        assert state.rsna_score(B) is None


class TestComparisonMarks:
    """The window's compare-mode captions, from the one matcher."""

    @staticmethod
    def _box(box_id: str, kind, xyxy, score=None):
        from detector.review.records import ReviewBox

        return ReviewBox(id=box_id, image="i", kind=kind, xyxy=xyxy, score=score)

    def test_highest_score_takes_the_truth_box_first(self) -> None:
        from detector.review.comparing import comparison_marks
        from detector.review.records import BoxKind

        gt = self._box("gt", BoxKind.GROUND_TRUTH, (0.0, 0.0, 10.0, 10.0))
        far = self._box("far", BoxKind.GROUND_TRUTH, (50.0, 50.0, 60.0, 60.0))
        # Both predictions overlap "gt" at IoU 0.5 (half of it); the 0.9 one takes it.
        low = self._box("low", BoxKind.PREDICTION, (0.0, 5.0, 10.0, 10.0), 0.3)
        high = self._box("high", BoxKind.PREDICTION, (0.0, 0.0, 10.0, 5.0), 0.9)
        marks = comparison_marks([gt, far], [low, high], 0.5)
        assert marks == {
            "gt": "matched",
            "high": "matched",
            "low": "false positive",
            "far": "missed",
        }

    def test_an_image_with_no_boxes_has_no_marks(self) -> None:
        from detector.review.comparing import comparison_marks

        assert comparison_marks([], [], 0.5) == {}
