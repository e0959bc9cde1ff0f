"""RSNA metric, mAP@0.5 and the threshold sweep on hand-made cases with known answers."""

from __future__ import annotations

import math
import random

import pytest

from detector.rsna import metrics
from detector.rsna.metrics import (
    average_precision_50,
    best_row,
    best_threshold,
    evaluate,
    image_sensitivity_specificity,
    precision_recall_f1,
    rsna_image_score,
    rsna_map,
    threshold_sweep,
)
from detector.training.engine import score

BOX = (100.0, 100.0, 100.0, 100.0)
FAR = (400.0, 400.0, 50.0, 50.0)


def scored(score: float, box: tuple[float, float, float, float]) -> tuple[float, ...]:
    return (score, *box)


class TestRsnaImageScore:
    def test_perfect(self) -> None:
        """One exact prediction per truth box scores 1."""
        assert rsna_image_score([BOX, FAR], [scored(0.9, BOX), scored(0.8, FAR)]) == 1.0

    def test_no_truth_no_prediction_is_skipped(self) -> None:
        """An image with no findings and no predictions is not counted (None)."""
        assert rsna_image_score([], []) is None

    def test_prediction_on_empty_image_scores_zero(self) -> None:
        """Any prediction on an image without truth scores 0."""
        assert rsna_image_score([], [scored(0.9, BOX)]) == 0.0

    def test_missed_truth_scores_zero(self) -> None:
        """Truth without any prediction scores 0."""
        assert rsna_image_score([BOX], []) == 0.0

    def test_shifted_box_hits_only_low_iou_thresholds(self) -> None:
        """IoU 0.6 hits at 0.40..0.55 (IoU > t) but not at 0.60..0.75: 4 of 8 thresholds."""
        shifted = (125.0, 100.0, 100.0, 100.0)
        assert rsna_image_score([BOX], [scored(0.9, shifted)]) == pytest.approx(0.5)

    def test_extra_box_counts_as_false_positive(self) -> None:
        """A perfect box plus a stray one: TP / (TP + FP) = 1/2 at every IoU threshold."""
        assert rsna_image_score([BOX], [scored(0.9, BOX), scored(0.5, FAR)]) == 0.5

    def test_missed_second_box_counts_as_false_negative(self) -> None:
        """Two truth boxes, one found: 1 / (1 + 1) = 0.5."""
        assert rsna_image_score([BOX, FAR], [scored(0.9, BOX)]) == 0.5

    def test_each_truth_box_is_matched_once(self) -> None:
        """Two identical predictions on one truth box: the second is a false positive."""
        assert rsna_image_score([BOX], [scored(0.9, BOX), scored(0.8, BOX)]) == 0.5

    def test_highest_confidence_matches_first(self) -> None:
        """Matching follows confidence: swapping two scores changes the result."""
        a, b = (0.0, 0.0, 100.0, 100.0), (60.0, 0.0, 100.0, 100.0)
        p1 = (20.0, 0.0, 100.0, 100.0)  # IoU 0.667 with a, 0.429 with b
        p2 = a  # IoU 1 with a, 0.25 with b
        # p1 first takes a; p2 is then a false positive and b is missed: 1/3 everywhere.
        assert rsna_image_score([a, b], [scored(0.9, p1), scored(0.1, p2)]) == pytest.approx(1 / 3)
        # p2 first takes a; p1 then hits b at IoU threshold 0.40 only: (1 + 7 * 1/3) / 8.
        assert rsna_image_score([a, b], [scored(0.1, p1), scored(0.9, p2)]) == pytest.approx(
            (1 + 7 / 3) / 8
        )


class TestRsnaMap:
    def test_mean_over_scored_images(self) -> None:
        """Perfect (1) + empty/empty (skipped) + stray box on a normal image (0) -> 0.5."""
        truth = {"a": [BOX], "b": [], "c": []}
        preds = {"a": [scored(0.9, BOX)], "c": [scored(0.7, FAR)]}
        assert rsna_map(truth, preds) == 0.5

    def test_threshold_drops_low_scores(self) -> None:
        """At threshold 0.8 the 0.7 stray box is gone and the score becomes 1."""
        truth = {"a": [BOX], "b": [], "c": []}
        preds = {"a": [scored(0.9, BOX)], "c": [scored(0.7, FAR)]}
        assert rsna_map(truth, preds, threshold=0.8) == 1.0

    def test_all_images_skipped_is_nan(self) -> None:
        """Only normal images and no predictions: the metric is undefined."""
        assert math.isnan(rsna_map({"a": [], "b": []}, {}))

    def test_predictions_for_unknown_images_are_ignored(self) -> None:
        """Predictions for ids not in the truth do not change the score."""
        assert rsna_map({"a": [BOX]}, {"a": [scored(0.9, BOX)], "zz": [scored(0.9, FAR)]}) == 1.0


def brute_force_ap50(truth: dict, preds: dict) -> float:
    """Reference AP: recompute matching from scratch at every cutoff, envelope by max search."""

    def iou(a, b) -> float:
        ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
        iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
        inter = ix * iy
        return inter / (a[2] * a[3] + b[2] * b[3] - inter)

    n_truth = sum(len(v) for v in truth.values())
    cutoffs = sorted({p[0] for pid in truth for p in preds.get(pid, [])}, reverse=True)
    points = []
    for cut in cutoffs:
        tp = fp = 0
        for pid, gts in truth.items():
            kept = sorted((p for p in preds.get(pid, []) if p[0] >= cut), key=lambda p: -p[0])
            used = [False] * len(gts)
            for p in kept:
                best, best_j = -1.0, -1
                for j, g in enumerate(gts):
                    if not used[j] and iou(p[1:], g) > best:
                        best, best_j = iou(p[1:], g), j
                if best_j >= 0 and best >= 0.5:
                    used[best_j] = True
                    tp += 1
                else:
                    fp += 1
        points.append((tp / n_truth, tp / (tp + fp)))
    ap, prev_recall = 0.0, 0.0
    for recall, _precision in points:
        if recall > prev_recall:
            best_precision = max(p for r, p in points if r >= recall)
            ap += (recall - prev_recall) * best_precision
            prev_recall = recall
    return ap


def brute_force_rsna(truth: dict, preds: dict, threshold: float) -> float:
    """Reference RSNA metric written from the challenge text, loop by loop."""

    def iou(a, b) -> float:
        ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
        iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
        return ix * iy / (a[2] * a[3] + b[2] * b[3] - ix * iy)

    scores = []
    for pid, gts in truth.items():
        kept = sorted((p for p in preds.get(pid, []) if p[0] >= threshold), key=lambda p: -p[0])
        if not gts and not kept:
            continue
        per_t = []
        for t in [0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75]:
            used, tp = set(), 0
            for p in kept:
                cands = [(iou(p[1:], g), j) for j, g in enumerate(gts) if j not in used]
                if cands and max(cands)[0] > t:
                    used.add(max(cands)[1])
                    tp += 1
            per_t.append(tp / (len(kept) + len(gts) - tp) if kept or gts else 0.0)
        scores.append(sum(per_t) / len(per_t))
    return sum(scores) / len(scores)


def random_case(seed: int) -> tuple[dict, dict]:
    """Images with 0-3 truth boxes and jittered, missing and stray predictions."""
    rng = random.Random(seed)
    truth, preds = {}, {}
    used_scores: set[float] = set()

    def new_score() -> float:
        while True:
            s = round(rng.random(), 6)
            if s not in used_scores:
                used_scores.add(s)
                return s

    for i in range(40):
        gts = [
            (rng.uniform(0, 800), rng.uniform(0, 800), rng.uniform(40, 200), rng.uniform(40, 200))
            for _ in range(rng.choice([0, 0, 1, 2, 3]))
        ]
        truth[f"img{i}"] = gts
        ps = []
        for g in gts:
            if rng.random() < 0.8:
                j = rng.uniform(-0.3, 0.3)
                ps.append((new_score(), g[0] + j * g[2], g[1] + j * g[3], g[2], g[3]))
        for _ in range(rng.choice([0, 0, 1, 2])):
            ps.append((new_score(), rng.uniform(0, 800), rng.uniform(0, 800), 80.0, 90.0))
        preds[f"img{i}"] = ps
    return truth, preds


class TestAveragePrecision50:
    def test_hand_computed_value(self) -> None:
        """TP (0.9), FP (0.8), TP (0.7) over 2 truth boxes: AP = 0.5 * 1 + 0.5 * 2/3."""
        truth = {"a": [BOX], "b": [FAR]}
        preds = {"a": [scored(0.9, BOX), scored(0.8, FAR)], "b": [scored(0.7, FAR)]}
        assert average_precision_50(truth, preds) == pytest.approx(0.5 + 0.5 * 2 / 3)

    def test_perfect_is_one_and_no_predictions_is_zero(self) -> None:
        """All found first gives 1; nothing predicted gives 0."""
        truth = {"a": [BOX], "b": []}
        assert average_precision_50(truth, {"a": [scored(0.5, BOX)]}) == 1.0
        assert average_precision_50(truth, {}) == 0.0

    def test_no_truth_boxes_is_nan(self) -> None:
        """AP is undefined when there is nothing to find."""
        assert math.isnan(average_precision_50({"a": []}, {"a": [scored(0.9, BOX)]}))

    @pytest.mark.parametrize("seed", range(5))
    def test_matches_brute_force_reference(self, seed: int) -> None:
        """Random scenes: same AP as an independent cutoff-by-cutoff implementation."""
        truth, preds = random_case(seed)
        assert average_precision_50(truth, preds) == pytest.approx(brute_force_ap50(truth, preds))

    @pytest.mark.parametrize("seed", range(3))
    @pytest.mark.parametrize("threshold", [0.0, 0.3, 0.6])
    def test_rsna_matches_brute_force_reference(self, seed: int, threshold: float) -> None:
        """Random scenes: the prefix-reusing RSNA metric equals a loop-by-loop reference."""
        truth, preds = random_case(seed)
        assert rsna_map(truth, preds, threshold) == pytest.approx(
            brute_force_rsna(truth, preds, threshold)
        )


class TestPrecisionRecallF1:
    def test_counts_and_ratios(self) -> None:
        """1 TP, 1 FP, 1 FN: precision = recall = F1 = 0.5."""
        truth = {"a": [BOX], "b": [FAR]}
        preds = {"a": [scored(0.9, BOX), scored(0.8, FAR)]}
        out = precision_recall_f1(truth, preds, threshold=0.5)
        assert (out["tp"], out["fp"], out["fn"]) == (1, 1, 1)
        assert out["precision"] == out["recall"] == out["f1"] == 0.5

    def test_nothing_predicted_on_normal_images(self) -> None:
        """No truth and no predictions: nothing wrong, nothing missed."""
        out = precision_recall_f1({"a": []}, {}, threshold=0.5)
        assert (out["precision"], out["recall"], out["f1"]) == (1.0, 1.0, 1.0)

    def test_iou_threshold_is_inclusive(self) -> None:
        """A box with IoU exactly 0.5 counts as a hit at iou=0.5."""
        half = (100.0, 100.0, 100.0, 50.0)
        assert precision_recall_f1({"a": [BOX]}, {"a": [scored(0.9, half)]}, 0.5)["tp"] == 1


class TestImageSensitivitySpecificity:
    def test_image_level_calls(self) -> None:
        """2 positive images (1 called), 2 normal images (1 called): both 0.5."""
        truth = {"p1": [BOX], "p2": [BOX], "n1": [], "n2": []}
        preds = {"p1": [scored(0.9, FAR)], "n1": [scored(0.9, BOX)], "n2": [scored(0.1, BOX)]}
        out = image_sensitivity_specificity(truth, preds, threshold=0.5)
        assert (out["sensitivity"], out["specificity"]) == (0.5, 0.5)
        assert (out["tp"], out["fn"], out["fp"], out["tn"]) == (1, 1, 1, 1)


class TestThresholdSweep:
    def test_rows_follow_thresholds(self) -> None:
        """One row per threshold with every metric key; recall falls as the threshold rises."""
        truth = {"a": [BOX], "b": [FAR]}
        preds = {"a": [scored(0.9, BOX)], "b": [scored(0.4, FAR)]}
        rows = threshold_sweep(truth, preds, [0.3, 0.5])
        assert [r["threshold"] for r in rows] == [0.3, 0.5]
        assert [r["recall"] for r in rows] == [1.0, 0.5]
        assert {"rsna_map", "precision", "f1", "sensitivity", "specificity"} <= set(rows[0])

    def test_default_thresholds(self) -> None:
        """The default sweep is 0.05 .. 0.95 in steps of 0.05."""
        rows = threshold_sweep({"a": []}, {})
        assert [r["threshold"] for r in rows] == list(metrics.DEFAULT_THRESHOLDS)
        assert len(rows) == 19


class TestBestThreshold:
    def test_picks_threshold_above_the_false_positive(self) -> None:
        """A stray 0.3 box on a normal image: the best RSNA threshold lies above 0.3."""
        truth = {"a": [BOX], "n": []}
        preds = {"a": [scored(0.9, BOX)], "n": [scored(0.3, FAR)]}
        assert best_threshold(truth, preds, [0.2, 0.3, 0.4, 0.95]) == 0.4


class TestBestRow:
    @staticmethod
    def rows(values):
        return [{"threshold": 0.1 * (i + 1), "v": v} for i, v in enumerate(values)]

    def test_middle_of_the_plateau(self) -> None:
        """A run of equal best values gives its middle, not its lowest threshold."""
        best = best_row(self.rows([0.1, 0.5, 0.5, 0.5, 0.2]), "v")
        assert best is not None and best["threshold"] == pytest.approx(0.3)

    def test_even_plateau_takes_the_lower_middle(self) -> None:
        """Two middles: the lower one."""
        best = best_row(self.rows([0.5, 0.5, 0.5, 0.5]), "v")
        assert best is not None and best["threshold"] == pytest.approx(0.2)

    def test_widest_run_wins_and_nan_is_ignored(self) -> None:
        """Separate runs of the maximum: the widest; NaN rows are neither best nor breaks."""
        best = best_row(self.rows([0.9, float("nan"), 0.9, 0.9, 0.9, 0.1]), "v")
        assert best is not None and best["threshold"] == pytest.approx(0.4)

    def test_all_nan(self) -> None:
        """Nothing defined: None."""
        assert best_row(self.rows([float("nan")] * 3), "v") is None

    def test_evaluate_and_training_use_the_rule(self) -> None:
        """eval's best threshold and training's are the plateau middle (0.35..0.90 -> 0.60)."""
        truth = {"a": [BOX], "n": []}
        preds = {"a": [scored(0.9, BOX)], "n": [scored(0.3, FAR)]}
        assert evaluate(truth, preds)["best_threshold"] == pytest.approx(0.6)
        assert score(truth, preds)["threshold"] == pytest.approx(0.6)


class TestEvaluate:
    def test_keys_and_values(self) -> None:
        """evaluate reports every metric at the threshold plus the sweep."""
        truth = {"a": [BOX], "n": []}
        preds = {"a": [scored(0.9, BOX)], "n": [scored(0.3, FAR)]}
        out = evaluate(truth, preds, threshold=0.5)
        for key in (
            "rsna_map",
            "map50",
            "precision",
            "recall",
            "f1",
            "sensitivity",
            "specificity",
            "threshold",
            "images",
            "sweep",
        ):
            assert key in out
        assert out["rsna_map"] == 1.0
        assert out["map50"] == 1.0
        assert out["images"] == 2
        assert out["specificity"] == 1.0
        assert out["best_rsna_map"] == 1.0
