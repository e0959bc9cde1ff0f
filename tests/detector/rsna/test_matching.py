"""The one box matcher: IoU, greedy matching, and its ``>=`` boundary where it is used."""

from __future__ import annotations

import numpy as np
import pytest

from detector.review import ReviewState
from detector.rsna.matching import box_iou, iou_matrix, match_boxes, xywh_to_xyxy
from detector.rsna.metrics import precision_recall_f1, rsna_image_score

BOX = (100.0, 100.0, 200.0, 200.0)
FAR = (400.0, 400.0, 450.0, 450.0)
SQUARE = (0.0, 0.0, 10.0, 10.0)
#: IoU with SQUARE exactly 0.5 (50 / 100) and just below it (49.9 / 100).
HALF = (0.0, 0.0, 10.0, 5.0)
BELOW_HALF = (0.0, 0.0, 10.0, 4.99)


class TestIou:
    def test_identical_disjoint_and_partial(self) -> None:
        """IoU is 1 for the same box, 0 for disjoint boxes, 75/125 for a 25 px shift."""
        shifted = (125.0, 100.0, 225.0, 200.0)
        iou = iou_matrix(np.array([BOX, FAR, shifted]), np.array([BOX]))
        assert iou[:, 0] == pytest.approx([1.0, 0.0, 0.6])

    def test_empty_inputs_give_empty_matrix(self) -> None:
        """No boxes on either side gives a correctly shaped empty matrix."""
        assert iou_matrix(np.zeros((0, 4)), np.array([BOX])).shape == (0, 1)

    def test_exact_half(self) -> None:
        """A 10x10 square and its top half overlap at exactly 0.5; touching boxes at 0."""
        assert box_iou(SQUARE, HALF) == 0.5
        assert box_iou(SQUARE, (10.0, 0.0, 20.0, 10.0)) == 0.0

    def test_xywh_to_xyxy(self) -> None:
        """RSNA rows become corners."""
        assert xywh_to_xyxy([(1, 2, 3, 4)]).tolist() == [[1.0, 2.0, 4.0, 6.0]]


class TestMatchBoxes:
    def test_highest_score_first(self) -> None:
        """The better-scored prediction takes the truth box, the other one is left unmatched."""
        truth = [SQUARE, (20.0, 0.0, 30.0, 10.0)]
        preds = [(0.5, SQUARE), (0.9, (0.0, 0.0, 10.0, 8.0))]
        assert match_boxes(truth, preds, 0.5) == [(1, 0)]

    def test_truth_with_highest_iou(self) -> None:
        """A prediction over two truth boxes takes the one it overlaps most."""
        truth = [HALF, (0.0, 0.0, 10.0, 8.0)]
        assert match_boxes(truth, [(0.9, SQUARE)], 0.5) == [(0, 1)]

    def test_boundary(self) -> None:
        """IoU exactly at the threshold matches (``>=``), not with strict; just below never."""
        assert match_boxes([SQUARE], [(0.9, HALF)], 0.5) == [(0, 0)]
        assert match_boxes([SQUARE], [(0.9, HALF)], 0.5, strict=True) == []
        assert match_boxes([SQUARE], [(0.9, BELOW_HALF)], 0.5) == []

    def test_nothing_to_match(self) -> None:
        """No predictions or no truth: no pairs."""
        assert match_boxes([SQUARE], [], 0.5) == []
        assert match_boxes([], [(0.9, SQUARE)], 0.5) == []


class TestBoundaryWhereUsed:
    """IoU exactly 0.5 is a hit at 0.5 in the metrics and in the review comparison."""

    def test_metrics_box_counts(self) -> None:
        """precision/recall count IoU == 0.5 as a hit, 0.499 as a miss."""
        truth = {"a": [(0.0, 0.0, 10.0, 10.0)]}
        hit = precision_recall_f1(truth, {"a": [(0.9, 0.0, 0.0, 10.0, 5.0)]}, 0.5)
        miss = precision_recall_f1(truth, {"a": [(0.9, 0.0, 0.0, 10.0, 4.99)]}, 0.5)
        assert (hit["tp"], hit["fp"], hit["fn"]) == (1, 0, 0)
        assert (miss["tp"], miss["fp"], miss["fn"]) == (0, 1, 1)

    def test_rsna_score_is_strict(self) -> None:
        """The RSNA metric needs IoU > t: IoU 0.5 hits at t = 0.40 and 0.45 only (2/8)."""
        score = rsna_image_score([(0.0, 0.0, 10.0, 10.0)], [(0.9, 0.0, 0.0, 10.0, 5.0)])
        assert score == 0.25

    @pytest.mark.parametrize(
        ("pred", "matched", "disagreement"), [(HALF, 1, 0), (BELOW_HALF, 0, 2)]
    )
    def test_review_compare_and_counts(
        self, pred: tuple[float, ...], matched: int, disagreement: int
    ) -> None:
        """ReviewState.compare and counts match at IoU == 0.5, not at 0.499."""
        state = ReviewState(reviewer="r", clock=lambda: 1.0)
        state.add_image("a", "pa")
        (gt,) = state.add_ground_truth("a", [SQUARE], "labels.csv")
        (pred_box,) = state.set_predictions("a", "m", [(pred, 0.9)])
        comparison = state.compare("a", iou_threshold=0.5)
        if matched:
            assert comparison.matched == ((gt.id, pred_box.id),)
            assert comparison.missed == () and comparison.false_positives == ()
        else:
            assert comparison.matched == ()
            assert comparison.missed == (gt.id,)
            assert comparison.false_positives == (pred_box.id,)
        assert state.counts("a", iou_threshold=0.5).disagreement == disagreement
