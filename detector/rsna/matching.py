"""The one box matcher of PneumoView: IoU and greedy matching (numpy only).

Boxes are corners ``(x0, y0, x1, y1)`` in image pixels; RSNA ``(x, y, w, h)`` rows become
corners through :func:`xywh_to_xyxy`. The metrics (:mod:`detector.rsna.metrics`), the gate
search (:mod:`detector.model.gating`) and the review comparison
(:meth:`detector.review.state.ReviewState.compare` and its worklist counts) all match here.

Matching rule (as the RSNA challenge): predictions are taken highest score first (equal scores
in their given order); each takes the still-unmatched truth box it overlaps most (the first one
on a tie), and is a hit when that IoU reaches the threshold: ``IoU >= threshold``, or
``IoU > threshold`` with ``strict=True`` (the RSNA challenge metric's own comparison).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def xywh_to_xyxy(boxes_xywh: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """``(N, 4)`` ``x, y, w, h`` rows as float64 ``(N, 4)`` corners ``x0, y0, x0 + w, y0 + h``."""
    a = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    with np.errstate(over="ignore", invalid="ignore"):  # huge boxes give inf, never a warning
        return np.concatenate([a[:, :2], a[:, :2] + a[:, 2:]], axis=1)


def iou_matrix(
    a_xyxy: np.ndarray | Sequence[Sequence[float]], b_xyxy: np.ndarray | Sequence[Sequence[float]]
) -> np.ndarray:
    """IoU of every box in ``a`` with every box in ``b`` (both ``(N, 4)`` corners).

    Returns
    -------
    ndarray
        float64 ``(len(a), len(b))`` in [0, 1]; 0 for boxes that do not overlap, and for
        boxes so large that their area is not a finite number (no numpy warning either way).
    """
    a = np.asarray(a_xyxy, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b_xyxy, dtype=np.float64).reshape(-1, 4)
    ax1, ay1, ax2, ay2 = a[:, 0:1], a[:, 1:2], a[:, 2:3], a[:, 3:4]
    bx1, by1, bx2, by2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        iw = np.clip(np.minimum(ax2, bx2) - np.maximum(ax1, bx1), 0.0, None)
        ih = np.clip(np.minimum(ay2, by2) - np.maximum(ay1, by1), 0.0, None)
        inter = iw * ih
        union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
        out = np.where(union > 0, inter / union, 0.0)
    return np.where(np.isfinite(out), out, 0.0)


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two ``(x0, y0, x1, y1)`` boxes (:func:`iou_matrix` of one pair)."""
    return float(iou_matrix([a], [b])[0, 0])


def greedy_match(iou: np.ndarray, threshold: float, *, strict: bool = False) -> np.ndarray:
    """The truth box each prediction matched (rows already in decreasing score order).

    Parameters
    ----------
    iou : ndarray
        ``(P, T)`` IoU of the predictions (rows, best score first) with the truth boxes.
    threshold : float
        A hit needs ``IoU >= threshold`` (``IoU > threshold`` when ``strict``).

    Returns
    -------
    ndarray
        int64 ``(P,)``: the matched truth index of each prediction, ``-1`` for none.
    """
    n_pred, n_truth = iou.shape
    matched = np.full(n_pred, -1, dtype=np.int64)
    if n_truth == 0:
        return matched
    free = np.ones(n_truth, dtype=bool)
    for i in range(n_pred):
        row = np.where(free, iou[i], -1.0)
        j = int(np.argmax(row))
        value = row[j]
        if (value > threshold) if strict else (value >= threshold):
            free[j] = False
            matched[i] = j
            if not free.any():
                break
    return matched


def match_boxes(
    truth_xyxy: Sequence[Sequence[float]],
    preds: Sequence[tuple[float, Sequence[float]]],
    iou_threshold: float,
    *,
    strict: bool = False,
) -> list[tuple[int, int]]:
    """Greedy matching of scored predictions to truth boxes (see the module docstring).

    Parameters
    ----------
    truth_xyxy : sequence of (x0, y0, x1, y1)
    preds : sequence of (score, (x0, y0, x1, y1))
    iou_threshold : float

    Returns
    -------
    list of (pred index, truth index)
        In the order the predictions were taken (highest score first).
    """
    if not preds:
        return []
    scores = np.asarray([float(s) for s, _box in preds], dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    boxes = np.asarray([tuple(preds[int(i)][1]) for i in order], dtype=np.float64)
    matched = greedy_match(iou_matrix(boxes, truth_xyxy), iou_threshold, strict=strict)
    return [(int(order[k]), int(t)) for k, t in enumerate(matched) if t >= 0]
