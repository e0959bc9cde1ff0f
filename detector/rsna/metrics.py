"""Detection metrics on RSNA-style boxes (numpy only).

Inputs everywhere:

* ``truth``: ``{patientId: [(x, y, w, h), ...]}``; an image with no finding maps to ``[]``.
  Its keys are the evaluated images.
* ``preds``: ``{patientId: [(score, x, y, w, h), ...]}``. Images missing from ``preds`` have no
  predictions; predictions for images not in ``truth`` are ignored.

A prediction is kept at ``threshold`` when ``score >= threshold``.

RSNA challenge metric
    Per image, the mean over IoU thresholds ``t`` in 0.40, 0.45, ..., 0.75 of
    ``TP / (TP + FP + FN)``, where predictions are matched highest confidence first, each to the
    unmatched truth box with the highest IoU, a hit when ``IoU > t`` (the matcher of
    :mod:`detector.rsna.matching` with ``strict=True``). An image with no truth and
    no prediction is skipped; any prediction on an image without truth scores 0; truth without
    predictions scores 0. The dataset score is the mean over the images not skipped.
mAP@0.5
    Box-level average precision over all images at ``IoU >= 0.5`` (COCO-style greedy matching
    in decreasing score order), all-point interpolated as in VOC 2010+.

Because matching is greedy in score order, the matches of the predictions above any threshold
are a prefix of the matches of all predictions; every threshold of a sweep reuses one matching
per image.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detector.rsna.matching import greedy_match, iou_matrix, xywh_to_xyxy

Truth = Mapping[str, Sequence[Sequence[float]]]
Preds = Mapping[str, Sequence[Sequence[float]]]

#: IoU thresholds of the RSNA Pneumonia Detection Challenge metric.
RSNA_IOU_THRESHOLDS: tuple[float, ...] = tuple(round(0.40 + 0.05 * i, 2) for i in range(8))
#: Default thresholds of :func:`threshold_sweep`: 0.05, 0.10, ..., 0.95.
DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(1, 20))


@dataclass
class ScoredImage:
    """One image's truth, predictions sorted by decreasing score, and cached matchings.

    Built by :func:`scored_image`; :mod:`detector.model.gating` scores every gate of its
    search from one of these per image.
    """

    truth: np.ndarray  # (T, 4) xywh
    scores: np.ndarray  # (P,) decreasing
    boxes: np.ndarray  # (P, 4) xywh
    iou: np.ndarray  # (P, T)
    _cum: dict[tuple[float, bool], np.ndarray] = field(default_factory=dict)

    def count_at(self, threshold: float) -> int:
        """Number of predictions with ``score >= threshold``."""
        return int(np.searchsorted(-self.scores, -threshold, side="right"))

    def cum_hits(self, iou_threshold: float, strict: bool) -> np.ndarray:
        """``cum[k]`` = true positives among the ``k`` best predictions (length P + 1)."""
        key = (iou_threshold, strict)
        cum = self._cum.get(key)
        if cum is None:
            hits = (greedy_match(self.iou, iou_threshold, strict=strict) >= 0).astype(np.int64)
            cum = np.concatenate([[0], np.cumsum(hits)])
            self._cum[key] = cum
        return cum

    def rsna_score(self, k: int) -> float | None:
        """RSNA score of the ``k`` best predictions (None: no truth and ``k == 0``, skipped)."""
        n_truth = len(self.truth)
        if n_truth == 0 and k == 0:
            return None
        if n_truth == 0 or k == 0:
            return 0.0
        total = 0.0
        for t in RSNA_IOU_THRESHOLDS:
            tp = int(self.cum_hits(t, True)[k])
            total += tp / (k + n_truth - tp)
        return total / len(RSNA_IOU_THRESHOLDS)


def _as_boxes(rows: Iterable[Sequence[float]], width: int) -> np.ndarray:
    arr = np.asarray([tuple(float(v) for v in r) for r in rows], dtype=np.float64)
    return arr.reshape(-1, width)


def scored_image(
    truth_xywh: Iterable[Sequence[float]], preds: Iterable[Sequence[float]]
) -> ScoredImage:
    """One image ready to score: truth ``(x, y, w, h)`` rows, predictions ``(score, x, y, w, h)``."""
    truth = _as_boxes(truth_xywh, 4)
    scored = _as_boxes(preds, 5)
    order = np.argsort(-scored[:, 0], kind="stable")
    scored = scored[order]
    boxes = scored[:, 1:5]
    iou = iou_matrix(xywh_to_xyxy(boxes), xywh_to_xyxy(truth))
    return ScoredImage(truth, scored[:, 0], boxes, iou)


class _Dataset:
    """Prepared images of one evaluation, shared by all metrics and thresholds."""

    def __init__(self, truth: Truth, preds: Preds) -> None:
        self.ids = list(truth)
        self.images = [scored_image(truth[i], preds.get(i, ())) for i in self.ids]
        self.n_truth_boxes = sum(len(im.truth) for im in self.images)

    def rsna_map(self, threshold: float) -> float:
        scores = [im.rsna_score(im.count_at(threshold)) for im in self.images]
        kept = [s for s in scores if s is not None]
        return float(np.mean(kept)) if kept else math.nan

    def box_counts(self, threshold: float, iou: float) -> tuple[int, int, int]:
        tp = fp = 0
        for im in self.images:
            k = im.count_at(threshold)
            hits = int(im.cum_hits(iou, False)[k])
            tp += hits
            fp += k - hits
        return tp, fp, self.n_truth_boxes - tp

    def image_counts(self, threshold: float) -> tuple[int, int, int, int]:
        tp = fp = tn = fn = 0
        for im in self.images:
            called = im.count_at(threshold) > 0
            positive = len(im.truth) > 0
            if positive:
                tp, fn = (tp + 1, fn) if called else (tp, fn + 1)
            else:
                fp, tn = (fp + 1, tn) if called else (fp, tn + 1)
        return tp, fp, tn, fn

    def pr_points(self, iou: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Scores (decreasing), cumulative precision and recall over all predictions."""
        scores, hits = [], []
        for im in self.images:
            if len(im.scores):
                scores.append(im.scores)
                hits.append(np.diff(im.cum_hits(iou, False)))
        if not scores:
            empty = np.zeros(0)
            return empty, empty, empty
        all_scores = np.concatenate(scores)
        all_hits = np.concatenate(hits)
        order = np.argsort(-all_scores, kind="stable")
        all_scores, all_hits = all_scores[order], all_hits[order]
        tp = np.cumsum(all_hits)
        fp = np.cumsum(1 - all_hits)
        precision = tp / np.maximum(tp + fp, 1)
        recall = tp / self.n_truth_boxes if self.n_truth_boxes else np.zeros_like(precision)
        return all_scores, precision, recall

    def average_precision(self, iou: float = 0.5) -> float:
        if self.n_truth_boxes == 0:
            return math.nan
        _scores, precision, recall = self.pr_points(iou)
        if precision.size == 0:
            return 0.0
        mrec = np.concatenate([[0.0], recall, [1.0]])
        mpre = np.concatenate([[0.0], precision, [0.0]])
        mpre = np.maximum.accumulate(mpre[::-1])[::-1]
        steps = np.nonzero(mrec[1:] != mrec[:-1])[0]
        return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))

    def row(self, threshold: float) -> dict[str, float]:
        tp, fp, fn = self.box_counts(threshold, 0.5)
        prf = _prf(tp, fp, fn)
        itp, ifp, itn, ifn = self.image_counts(threshold)
        return {
            "threshold": float(threshold),
            "rsna_map": self.rsna_map(threshold),
            **prf,
            "sensitivity": _ratio(itp, itp + ifn),
            "specificity": _ratio(itn, itn + ifp),
        }


def _ratio(num: int, den: int) -> float:
    return num / den if den else math.nan


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    # Nothing predicted: nothing wrong (precision 1); nothing to find: nothing missed (recall 1).
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


# ---------------------------------------------------------------------------------------------
# Public API


def rsna_image_score(
    truth_xywh: Sequence[Sequence[float]], preds: Sequence[Sequence[float]]
) -> float | None:
    """RSNA score of one image, using every prediction given.

    Parameters
    ----------
    truth_xywh : sequence of (x, y, w, h)
    preds : sequence of (score, x, y, w, h)

    Returns
    -------
    float or None
        In [0, 1]; ``None`` when the image has neither truth nor predictions (it is skipped).
    """
    image = scored_image(truth_xywh, preds)
    return image.rsna_score(len(image.scores))


def rsna_map(truth: Truth, preds: Preds, threshold: float = 0.0) -> float:
    """The RSNA challenge metric over the images of ``truth`` (NaN when every image is skipped)."""
    return _Dataset(truth, preds).rsna_map(threshold)


def average_precision_50(truth: Truth, preds: Preds) -> float:
    """Box-level AP at IoU >= 0.5 over all images, all predictions (NaN without truth boxes)."""
    return _Dataset(truth, preds).average_precision(0.5)


def precision_recall_curve(
    truth: Truth, preds: Preds, iou: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Box-level precision and recall after each prediction in decreasing score order.

    Returns
    -------
    scores, precision, recall : ndarray
        float64, one entry per prediction.
    """
    return _Dataset(truth, preds).pr_points(iou)


def precision_recall_f1(
    truth: Truth, preds: Preds, threshold: float, iou: float = 0.5
) -> dict[str, float]:
    """Box-level precision, recall and F1 at ``threshold`` (a hit is ``IoU >= iou``).

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1`` and the counts ``tp``, ``fp``, ``fn``. Precision is 1
        when nothing is predicted, recall is 1 when there is nothing to find.
    """
    data = _Dataset(truth, preds)
    return _prf(*data.box_counts(threshold, iou))


def image_sensitivity_specificity(truth: Truth, preds: Preds, threshold: float) -> dict[str, float]:
    """Image-level calls: an image is called positive when it has >= 1 box at ``threshold``.

    Returns
    -------
    dict
        ``sensitivity`` (NaN without positive images), ``specificity`` (NaN without negative
        images) and the counts ``tp``, ``fp``, ``tn``, ``fn``.
    """
    tp, fp, tn, fn = _Dataset(truth, preds).image_counts(threshold)
    return {
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }


def threshold_sweep(
    truth: Truth, preds: Preds, thresholds: Iterable[float] | None = None
) -> list[dict[str, float]]:
    """Metrics at each threshold.

    Returns
    -------
    list of dict
        One per threshold (default 0.05 .. 0.95): ``threshold``, ``rsna_map``, ``precision``,
        ``recall``, ``f1``, ``tp``, ``fp``, ``fn``, ``sensitivity``, ``specificity``.
    """
    data = _Dataset(truth, preds)
    return [data.row(t) for t in (DEFAULT_THRESHOLDS if thresholds is None else thresholds)]


def best_row(rows: Sequence[Mapping[str, float]], key: str = "rsna_map") -> dict[str, float] | None:
    """The sweep row to use: the middle of the widest plateau of the best ``key`` value.

    The one threshold-selection rule of PneumoView (``eval``'s "best threshold", training's
    checkpoint threshold). Rows are taken in increasing threshold order; the best value often
    holds over a run of neighbouring thresholds, and its middle is the choice that is least
    sensitive to score shifts on new data (the lowest would sit at the edge where one more
    false positive appears). Rules, in order: the maximum of ``key`` (NaN rows ignored, values
    within 1e-9 count as equal); among separate runs of that maximum the one with the most
    thresholds (the lowest run on a tie); in that run the middle row (the lower of the two
    middles for an even count). ``None`` when ``key`` is NaN everywhere.
    """
    ordered = sorted(rows, key=lambda r: r["threshold"])
    values = [r[key] for r in ordered]
    valid = [v for v in values if not math.isnan(v)]
    if not valid:
        return None
    top = max(valid)
    runs: list[tuple[int, int]] = []  # (start, length) of each run of the top value
    for i, v in enumerate(values):
        if not math.isnan(v) and v >= top - 1e-9:
            if runs and runs[-1][0] + runs[-1][1] == i:
                runs[-1] = (runs[-1][0], runs[-1][1] + 1)
            else:
                runs.append((i, 1))
    start, length = max(runs, key=lambda r: (r[1], -r[0]))
    return dict(ordered[start + (length - 1) // 2])


def best_threshold(
    truth: Truth,
    preds: Preds,
    thresholds: Iterable[float] | None = None,
    key: str = "rsna_map",
) -> float:
    """The threshold of the sweep that maximises ``key`` (``rsna_map`` or ``f1``...).

    A tie is settled by :func:`best_row` (the middle of the widest best plateau); when ``key``
    is NaN everywhere, 0.5.
    """
    best = best_row(threshold_sweep(truth, preds, thresholds), key)
    return float(best["threshold"]) if best else 0.5


def evaluate(
    truth: Truth,
    preds: Preds,
    threshold: float = 0.5,
    thresholds: Iterable[float] | None = None,
) -> dict[str, Any]:
    """Every metric at ``threshold`` plus a threshold sweep.

    Returns
    -------
    dict
        ``rsna_map``, ``map50``, ``precision``, ``recall``, ``f1``, ``tp``, ``fp``, ``fn``,
        ``sensitivity``, ``specificity``, ``threshold``, ``images`` (evaluated), ``images_scored``
        (not skipped by the RSNA rule), ``positive_images``, ``truth_boxes``, ``predictions``
        (at the threshold), ``best_threshold``, ``best_rsna_map`` and ``sweep`` (list of rows).
        Undefined values are NaN.
    """
    data = _Dataset(truth, preds)
    at = data.row(threshold)
    sweep = [data.row(t) for t in (DEFAULT_THRESHOLDS if thresholds is None else thresholds)]
    best = best_row(sweep, "rsna_map")
    scored = sum(1 for im in data.images if len(im.truth) or im.count_at(threshold))
    return {
        **at,
        "map50": data.average_precision(0.5),
        "images": len(data.images),
        "images_scored": scored,
        "positive_images": sum(1 for im in data.images if len(im.truth)),
        "truth_boxes": data.n_truth_boxes,
        "predictions": sum(im.count_at(threshold) for im in data.images),
        "best_threshold": best["threshold"] if best else math.nan,
        "best_rsna_map": best["rsna_map"] if best else math.nan,
        "sweep": sweep,
    }
