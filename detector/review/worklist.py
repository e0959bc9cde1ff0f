"""The worklist's rule: which open images, in which order (no Qt).

One rule serves the Worklist table and the keys that move through it (Space, "next in
worklist"), so what the reader sees listed is the order the keys follow:

- :func:`worklist_rows` reads each image's status and counts from a
  :class:`detector.review.ReviewState` at a score threshold and a comparison IoU;
- :class:`WorklistView` (a sort column, its direction and a filter) arranges them; besides the
  table's columns it sorts by :data:`INFORMATIVE`, the "most informative first" order
  (:mod:`detector.review.informative`);
- :func:`next_unreviewed` and :func:`step_in_order` walk the arranged keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from detector.review.informative import FINISHED_RANK, NO_RUN_RANK, uncertainty
from detector.review.records import DONE_STATUSES, ImageCounts, ImageStatus, ReviewError
from detector.review.state import ReviewState

#: Sort columns of the worklist (the table's columns, in order).
SORT_COLUMNS: tuple[str, ...] = ("image", "status", "pred.", "max", "disagree", "GT")
#: The "most informative first" order: not a column, a sort of its own.
INFORMATIVE = "informative"
#: The orders the toolbar toggles between: load order and most informative first.
ORDERS: tuple[str, ...] = ("image", INFORMATIVE)
#: Filters of the worklist, in menu order.
FILTERS: tuple[str, ...] = ("all", "unreviewed", "disagreements only", "positive by model")
#: Sort rank of the review statuses (unreviewed first).
STATUS_RANK: dict[ImageStatus, int] = {
    ImageStatus.UNREVIEWED: 0,
    ImageStatus.IN_PROGRESS: 1,
    ImageStatus.REVIEWED: 2,
    ImageStatus.NO_OPACITY: 3,
}


@dataclass(frozen=True)
class WorklistRow:
    """One image of the worklist: its key, patientId, status, counts and load position.

    ``uncertainty`` is :func:`detector.review.informative.uncertainty` (``None``: the current
    model has not run on the image).
    """

    key: str
    patient_id: str
    status: ImageStatus
    counts: ImageCounts
    position: int
    uncertainty: float | None = None


def worklist_rows(
    review: ReviewState, keys: Sequence[str], *, threshold: float, iou_threshold: float
) -> list[WorklistRow]:
    """Rows of the images ``keys`` (load order) that the review knows.

    Parameters
    ----------
    review : ReviewState
        The review of the open images.
    keys : sequence of str
        Session keys in load order (``position`` is the index in it); unknown keys are left out.
    threshold, iou_threshold : float
        Score threshold of the counted predictions and the IoU of the disagreement count
        (:meth:`detector.review.ReviewState.counts`).

    Returns
    -------
    list of WorklistRow
        In load order.
    """
    rows = []
    for position, key in enumerate(keys):
        try:
            image = review.image(key)
            counts = review.counts(key, threshold=threshold, iou_threshold=iou_threshold)
        except ReviewError:
            continue
        rows.append(
            WorklistRow(
                key,
                image.patient_id,
                image.status,
                counts,
                position,
                uncertainty(review, key),
            )
        )
    return rows


def sort_value(row: WorklistRow, column: str) -> tuple[float, ...]:
    """The value ``row`` sorts by in ``column`` (ascending; ties keep load order).

    An image with no prediction has the lowest "max" (after every score, 0.0 included).
    :data:`INFORMATIVE` ranks as :mod:`detector.review.informative` says (ascending only).
    """
    counts = row.counts
    if column == "image":
        return (row.position,)
    if column == INFORMATIVE:
        if row.status in DONE_STATUSES:
            return (FINISHED_RANK, 0.0, 0.0, row.position)
        if row.uncertainty is None:
            return (NO_RUN_RANK, 0.0, 0.0, row.position)
        return (0, row.uncertainty, -counts.disagreement, row.position)
    if column == "status":
        return (STATUS_RANK[row.status],)
    if column == "pred.":
        return (counts.predictions,)
    if column == "max":
        return (0, 0.0) if counts.max_score is None else (1, counts.max_score)
    if column == "disagree":
        return (counts.disagreement,)
    if column == "GT":
        return (counts.ground_truth,)
    raise ValueError(
        f"unknown worklist column {column!r}; expected one of {(*SORT_COLUMNS, INFORMATIVE)}"
    )


def passes(row: WorklistRow, filter_name: str) -> bool:
    """Whether ``row`` is listed under the filter ``filter_name`` (one of :data:`FILTERS`)."""
    if filter_name == "all":
        return True
    if filter_name == "unreviewed":
        return row.status not in DONE_STATUSES
    if filter_name == "disagreements only":
        return row.counts.disagreement > 0
    if filter_name == "positive by model":
        return row.counts.predictions > 0
    raise ValueError(f"unknown worklist filter {filter_name!r}; expected one of {FILTERS}")


@dataclass
class WorklistView:
    """How the reader arranged the worklist: sort column, direction and filter.

    The default is load order (column ``"image"`` ascending), every image listed.
    """

    column: str = "image"
    descending: bool = False
    filter: str = "all"

    def arrange(self, rows: Sequence[WorklistRow], *, keep: str | None = None) -> list[WorklistRow]:
        """The rows that pass the filter, sorted (a stable sort: ties stay in load order).

        Parameters
        ----------
        rows : sequence of WorklistRow
            In load order (:func:`worklist_rows`).
        keep : str, optional
            Key listed whatever the filter says: the image on screen stays in the list (in its
            sorted place) until the reader leaves it, so the keys can step on from it.

        Returns
        -------
        list of WorklistRow
        """
        listed = [r for r in rows if r.key == keep or passes(r, self.filter)]
        return sorted(listed, key=lambda r: sort_value(r, self.column), reverse=self.descending)


def next_unreviewed(rows: Sequence[WorklistRow], current: str | None) -> str | None:
    """Key of the first not-finished row after ``current`` (wrapping; ``current`` itself last).

    Without ``current`` in ``rows`` the search starts at the top. ``None`` when every row is
    reviewed or "no opacity".
    """
    keys = [r.key for r in rows]
    start = keys.index(current) if current in keys else -1
    for step in range(1, len(rows) + 1):
        row = rows[(start + step) % len(rows)]
        if row.status not in DONE_STATUSES:
            return row.key
    return None


def step_in_order(keys: Sequence[str], current: str | None, step: int) -> str | None:
    """Key ``step`` places from ``current`` in ``keys`` (no wrapping; ``None`` past an end).

    Without ``current`` in ``keys``, a step forward goes to the first key and back to the last.
    """
    if not keys:
        return None
    if current is None or current not in keys:
        return keys[0] if step > 0 else keys[-1]
    index = list(keys).index(current) + step
    return keys[index] if 0 <= index < len(keys) else None
