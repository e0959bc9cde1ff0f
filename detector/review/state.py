"""The review model: images, their boxes and review status, with psygnal events (no Qt).

:class:`ReviewState` is :class:`detector.review.core.ReviewCore` (storage, queries, undo/redo,
the one change path) plus one class per job: image status (:mod:`detector.review.image_edits`),
box edits (:mod:`detector.review.box_edits`), models and ground truth
(:mod:`detector.review.model_runs`) and comparisons (:mod:`detector.review.comparing`).

A ``ReviewState`` is used from one thread (the GUI thread); workers hand their results to it
through signals.
"""

from __future__ import annotations

from detector.review.box_edits import BoxEdits
from detector.review.comparing import Comparisons
from detector.review.image_edits import ImageEdits
from detector.review.model_runs import ModelRuns


class ReviewState(ImageEdits, BoxEdits, ModelRuns, Comparisons):
    """All images of a review session, their boxes and statuses (see :mod:`detector.review`).

    Parameters
    ----------
    reviewer : str, optional
        Recorded as the author of every edit (default: the login name).
    writer : ChangeWriter, optional
        Session store every change is written through to before it is applied
        (:class:`detector.review.core.ChangeWriter`).
    clock : callable, optional
        Returns the time in Unix seconds (tests pass a fake one).
    history_size : int
        Undo steps kept.
    """
