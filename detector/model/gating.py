"""Image-level gating of detections, and choosing its parameters on validation data.

About three chest radiographs in four have no opacity, and any box on such an image scores 0 in
the RSNA metric, so the decision "does this image get boxes at all" dominates the score. A
:class:`Gate` keeps an image's boxes only when its best box scores at least
``image_threshold``; then it keeps the boxes scoring at least ``box_threshold``, at most
``max_boxes`` of them. ``image_threshold <= box_threshold`` makes it the plain per-box threshold.

:func:`choose_gate` sweeps the three parameters on validation predictions for the RSNA metric
itself and returns the best gate with its metrics; the result is stored in the checkpoint
metadata (``threshold``, ``image_threshold``, ``max_boxes``) so ``detect`` and the viewer apply
the same gate.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from detector.rsna.metrics import evaluate

T = TypeVar("T")

#: One image's predictions: ``(score, x, y, w, h)`` rows.
Rows = Sequence[Sequence[float]]

BOX_THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(2, 19))  # 0.10 .. 0.90
IMAGE_THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(2, 19))
MAX_BOXES = (1, 2, 3, 4, None)
#: The largest ``max_boxes`` a checkpoint may ask for (a detector proposes a few hundred at most).
MAX_BOXES_LIMIT = 1000

_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 40


@dataclass(frozen=True)
class Gate:
    """Keep an image's boxes only if its best score >= ``image_threshold``; then the boxes
    with score >= ``box_threshold``, best first, at most ``max_boxes`` (None: no cap)."""

    box_threshold: float = 0.5
    image_threshold: float = 0.0
    max_boxes: int | None = None

    def select(self, items: Sequence[T], score: Callable[[T], float]) -> list[T]:
        """Gate one image's boxes given best first (``score(item)`` reads an item's score)."""
        if not items or score(items[0]) < self.image_threshold:
            return []
        kept = [item for item in items if score(item) >= self.box_threshold]
        return kept if self.max_boxes is None else kept[: self.max_boxes]

    def apply(self, rows: Rows) -> list[tuple[float, ...]]:
        """Gate one image's ``(score, x, y, w, h)`` rows; returns them best first."""
        ordered = sorted((tuple(float(v) for v in r) for r in rows), key=lambda r: -r[0])
        return self.select(ordered, lambda r: r[0])

    def as_meta(self) -> dict[str, Any]:
        """The checkpoint metadata keys this gate is stored under."""
        return {
            "threshold": self.box_threshold,
            "image_threshold": self.image_threshold,
            "max_boxes": self.max_boxes,
        }

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any], default_threshold: float = 0.5) -> Gate:
        """Read a gate from checkpoint metadata (missing keys: plain per-box threshold).

        Raises
        ------
        ValueError
            A value that is present but unusable (see :func:`gate_problem`): a tampered gate is
            refused, never replaced by a default that the model card would not show.
        """
        problem = gate_problem(meta)
        if problem:
            raise ValueError(problem)
        box = meta.get("threshold", default_threshold)
        image = meta.get("image_threshold")
        cap = meta.get("max_boxes")
        return cls(float(box), float(image or 0.0), None if cap is None else int(cap))


def show_value(value: Any) -> str:
    """A short repr of an untrusted value for an error line.

    Integers beyond 64 bits are described by their size (``repr`` of a 5000-digit integer
    raises); long strings and containers are cut.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    try:
        return _SHORT.repr(value)
    except (ValueError, RecursionError):
        return f"a {type(value).__name__}"


def _fraction_problem(name: str, value: Any) -> str | None:
    """Why ``value`` is not a number in [0, 1] (``None`` when it is)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 1:
        return None
    if isinstance(value, float) and math.isfinite(value) and 0.0 <= value <= 1.0:
        return None
    return f"{name} must be a number in [0, 1], not {show_value(value)}"


def gate_problem(meta: Mapping[str, Any]) -> str | None:
    """The first reason the gate stored in ``meta`` cannot be applied as written, or ``None``.

    ``threshold`` and ``image_threshold`` must be numbers in [0, 1] (``image_threshold`` absent
    or ``None``: no image gate); ``max_boxes`` a whole number in 1..``MAX_BOXES_LIMIT`` (absent
    or ``None``: no cap). Absent keys are fine: :meth:`Gate.from_meta` uses the defaults.
    """
    if "threshold" in meta:
        problem = _fraction_problem("threshold", meta["threshold"])
        if problem:
            return problem
    if meta.get("image_threshold") is not None:
        problem = _fraction_problem("image_threshold", meta["image_threshold"])
        if problem:
            return problem
    cap = meta.get("max_boxes")
    if cap is not None and (
        isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= MAX_BOXES_LIMIT
    ):
        return (
            f"max_boxes must be a whole number in 1..{MAX_BOXES_LIMIT} (or None for no cap), "
            f"not {show_value(cap)}"
        )
    return None


def gate_predictions(preds: Mapping[str, Rows], gate: Gate) -> dict[str, list[tuple[float, ...]]]:
    """Apply ``gate`` to every image of a predictions mapping."""
    return {image_id: gate.apply(rows) for image_id, rows in preds.items()}


def _score_table(truth: Mapping[str, Rows], preds: Mapping[str, Rows]) -> tuple[Any, Any, Any]:
    """Per image: sorted scores (padded with -1), RSNA score of its ``k`` best boxes, truth flag.

    The RSNA matching takes predictions highest score first, so any gate keeps a prefix of an
    image's sorted predictions: one matching per image serves every gate of the sweep.
    """
    import numpy as np

    from detector.rsna.metrics import scored_image

    images = [scored_image(truth[i], preds.get(i, [])) for i in truth]
    width = max([len(im.scores) for im in images] + [0])
    scores = np.full((len(images), width), -1.0)
    by_k = np.zeros((len(images), width + 1))
    has_truth = np.zeros(len(images), dtype=bool)
    for row, im in enumerate(images):
        n = len(im.scores)
        scores[row, :n] = im.scores
        has_truth[row] = len(im.truth) > 0
        for k in range(n + 1):
            value = im.rsna_score(k)
            by_k[row, k] = 0.0 if value is None else value
        by_k[row, n + 1 :] = by_k[row, n]
    return scores, by_k, has_truth


def choose_gate(
    truth: Mapping[str, Rows],
    preds: Mapping[str, Rows],
    *,
    box_thresholds: Iterable[float] = BOX_THRESHOLDS,
    image_thresholds: Iterable[float] = IMAGE_THRESHOLDS,
    max_boxes: Iterable[int | None] = MAX_BOXES,
) -> tuple[Gate, dict[str, Any]]:
    """The gate that maximises the RSNA metric of ``preds`` over the images of ``truth``.

    Ties go to the simplest gate: the plain threshold (``image_threshold`` 0) before a gate,
    no cap before a cap, then the higher box threshold (fewer boxes).

    Returns
    -------
    gate, metrics
        ``metrics`` is :func:`detector.rsna.metrics.evaluate` of the gated predictions at the
        gate's box threshold.
    """
    import numpy as np

    scores, by_k, has_truth = _score_table(truth, preds)
    rows = np.arange(len(scores))
    best_score = scores[:, 0] if scores.shape[1] else np.full(len(scores), -1.0)
    box_list = sorted({float(t) for t in box_thresholds}, reverse=True)
    caps = list(max_boxes)
    caps = ([None] if None in caps else []) + [c for c in caps if c is not None]
    best: tuple[float, Gate] | None = None
    for cap in caps:
        for image_t in [0.0, *sorted({float(t) for t in image_thresholds})]:
            for box_t in box_list:
                if image_t and image_t <= box_t:
                    continue  # the same as the plain threshold box_t
                k = (scores >= box_t).sum(axis=1)
                if cap is not None:
                    k = np.minimum(k, cap)
                k = np.where(best_score >= image_t, k, 0)
                counted = has_truth | (k > 0)
                if not counted.any():
                    continue
                value = float(by_k[rows, k][counted].mean())
                if best is None or value > best[0] + 1e-12:
                    best = (value, Gate(box_t, image_t, cap))
    gate = best[1] if best else Gate()
    metrics = evaluate(truth, gate_predictions(preds, gate), threshold=gate.box_threshold)
    return gate, metrics


def split_half(
    truth: Mapping[str, Rows],
    preds: Mapping[str, Rows],
    *,
    seed: int = 0,
    halvings: int = 1,
) -> dict[str, float]:
    """An honest estimate of :func:`choose_gate`'s result on images it did not see.

    The images are shuffled (``seed``) into two halves; the gate chosen on one half is scored on
    the other, both ways, and the metrics averaged. The in-sample metric of :func:`choose_gate`
    is optimistic: the same images choose and score the gate.

    One halving of a few hundred images is a lottery: on a fold of 240 images (57 positive) the
    estimate moves by about 0.02 (sd) from one shuffle to the next, as much as most differences
    between recipes. ``halvings`` > 1 averages that many shuffles (seeds ``seed``,
    ``seed + 1``, ...); 1, the default, is the single halving every stored number used.
    """
    import random
    import statistics

    if halvings < 1:
        raise ValueError(f"halvings must be at least 1, not {halvings}")
    keys = ("rsna_map", "map50", "sensitivity", "specificity")
    scores: dict[str, list[float]] = {k: [] for k in keys}
    ordered = sorted(truth)
    for shuffle in range(seed, seed + halvings):
        ids = list(ordered)
        random.Random(shuffle).shuffle(ids)
        halves = [ids[::2], ids[1::2]]
        for a, b in ((0, 1), (1, 0)):
            ta = {i: truth[i] for i in halves[a]}
            tb = {i: truth[i] for i in halves[b]}
            gate, _ = choose_gate(ta, {i: preds.get(i, []) for i in ta})
            gated = gate_predictions({i: preds.get(i, []) for i in tb}, gate)
            m = evaluate(tb, gated, threshold=gate.box_threshold)
            for k in keys:
                scores[k].append(float(m[k]))
    return {k: statistics.mean(v) for k, v in scores.items()}
