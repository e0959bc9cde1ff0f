"""The "most informative first" order of the worklist (no Qt).

An image teaches the reader (and a later fine-tuning of the model) the most where the model is
least sure. The order ranks the images that are not finished yet (unreviewed or in progress):

1. images the current model ran on, by how close their best box score is to the model's image
   gate (:func:`decision_score`): ``|best - gate|``, smallest first. An image the model ran on
   without keeping any box counts as best score 0 (the gate already found it negative);
2. ties (and equal distances) by the disagreement with the ground truth (the worklist's
   "Δ": ground-truth and predicted boxes left unmatched), largest first;
3. then the images the current model has not run on, in load order;
4. finished images (reviewed, "no opacity") last, in load order.

Remaining ties keep load order.
"""

from __future__ import annotations

import math

from detector.model.gating import Gate
from detector.review.records import ModelInfo, ReviewError
from detector.review.state import ReviewState

#: The rank of a finished image and of an image with no run of the current model.
NO_RUN_RANK = 1
FINISHED_RANK = 2


def decision_score(model: ModelInfo) -> float:
    """The score at which the model's gate starts keeping boxes on an image.

    The gate keeps an image's boxes when its best box scores at least ``image_threshold`` and
    at least one box scores ``threshold`` (:class:`detector.model.gating.Gate`), so the image
    turns positive at ``max(image_threshold, threshold)``. A session is untrusted: a gate in
    the model's metadata that cannot be read falls back to the model's recorded threshold.

    Returns
    -------
    float
        In ``[0, 1]``.
    """
    fallback = model.threshold if math.isfinite(model.threshold) else 0.5
    fallback = min(max(fallback, 0.0), 1.0)
    try:
        gate = Gate.from_meta(model.meta, default_threshold=fallback)
    except (ValueError, TypeError):
        return fallback
    return max(gate.image_threshold, gate.box_threshold)


def uncertainty(review: ReviewState, key: str) -> float | None:
    """``|best score - gate|`` of the current model on image ``key`` (lower: less sure).

    ``None`` when no model is recorded or the current model has not run on the image. Every
    box the current model proposed counts, whatever the reader did to it (the model's view
    of the image, not the reader's). Rounded to 6 decimals.
    """
    current = review.current_model
    if current is None:
        return None
    try:
        image = review.image(key)
    except ReviewError:
        return None
    if current not in image.predicted_by:
        return None
    scores = [b.score for b in review.proposals_of_model(key) if b.score is not None]
    best = max(scores, default=0.0)
    # Rounded so that distances equal on paper (0.45 and 0.55 around 0.5) tie in floats too.
    return round(abs(best - decision_score(review.models[current])), 6)
