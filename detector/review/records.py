"""Values of the review model: box and image records, their enums, the box check.

Records are frozen dataclasses, so a change is a ``(before, after)`` pair of snapshots.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

XYXY = tuple[float, float, float, float]

#: Predictions of a new model run that overlap a box already decided from the same model at
#: this IoU or more are dropped, so re-running a model never re-proposes a rejected box.
DECIDED_IOU = 0.9

#: The label of a box unless the reader picks another from the session's label set.
DEFAULT_LABEL = "Lung Opacity"
#: The flag a box may carry ("" for none).
EQUIVOCAL = "equivocal"
BOX_FLAGS = ("", EQUIVOCAL)
#: Longest label and image note kept (characters).
MAX_LABEL = 64
MAX_NOTE = 1000


class BoxKind(str, Enum):
    GROUND_TRUTH = "ground_truth"
    PREDICTION = "prediction"
    REVIEWER = "reviewer"


class BoxStatus(str, Enum):
    PROPOSED = "proposed"  # a model's prediction (or imported ground truth) not yet judged
    ACCEPTED = "accepted"  # a prediction the reviewer accepted (now a reviewer box)
    REJECTED = "rejected"  # a prediction the reviewer rejected
    EDITED = "edited"  # moved/resized by the reviewer
    ADDED = "added"  # drawn by the reviewer
    DELETED = "deleted"  # a ground-truth or reviewer box the reviewer deleted


class ImageStatus(str, Enum):
    UNREVIEWED = "unreviewed"
    IN_PROGRESS = "in_progress"
    REVIEWED = "reviewed"
    NO_OPACITY = "no_opacity"


#: Statuses of boxes that are part of the image's current findings.
ACTIVE_STATUSES = frozenset(
    {BoxStatus.PROPOSED, BoxStatus.ACCEPTED, BoxStatus.EDITED, BoxStatus.ADDED}
)
#: Image statuses that count as "reviewed" (exported as labels).
DONE_STATUSES = frozenset({ImageStatus.REVIEWED, ImageStatus.NO_OPACITY})


class ReviewError(ValueError):
    """An operation that does not apply (unknown image or box, wrong kind, bad geometry)."""


def check_xyxy(xyxy: Sequence[float]) -> XYXY:
    """``(x0, y0, x1, y1)`` as floats; ReviewError unless finite with ``x1 > x0, y1 > y0``."""
    try:
        x0, y0, x1, y1 = (float(v) for v in xyxy)
    except (TypeError, ValueError):
        raise ReviewError(f"a box is 4 numbers x0, y0, x1, y1, not {xyxy!r}") from None
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise ReviewError(f"box coordinates must be finite, not {xyxy!r}")
    if x1 <= x0 or y1 <= y0:
        raise ReviewError(f"box must have x1 > x0 and y1 > y0, not {xyxy!r}")
    return (x0, y0, x1, y1)


@dataclass(frozen=True)
class ReviewBox:
    """One box on one image.

    Attributes
    ----------
    id : str
        Stable id (uuid4 hex), the same after reopening the session.
    image : str
        The image's session key (:func:`detector.files.identity.image_key`).
    kind : BoxKind
        Accepting a prediction turns it into a ``REVIEWER`` box that keeps origin and score.
    xyxy : tuple of 4 float
        In original image pixels.
    score : float or None
        Model confidence (predictions and accepted predictions), else None.
    status : BoxStatus
    origin : str
        The model name or CSV file it came from; ``""`` for a hand-drawn box.
    author, created, modified : str, float, float
        Who made the last change, and when (Unix seconds).
    model_xyxy : tuple of 4 float or None
        A model box's geometry as the model proposed it (kept when the reader moves the box;
        what ``--format submission`` writes). None for other boxes, and for model boxes of
        sessions written before it was kept (their current geometry is used).
    label : str
        Its class, one of the session's label set (:meth:`ReviewState.label_set`).
    flag : str
        ``""`` or ``"equivocal"`` (:data:`BOX_FLAGS`).
    """

    id: str
    image: str
    kind: BoxKind
    xyxy: XYXY
    score: float | None = None
    status: BoxStatus = BoxStatus.PROPOSED
    origin: str = ""
    author: str = ""
    created: float = 0.0
    modified: float = 0.0
    model_xyxy: XYXY | None = None
    label: str = DEFAULT_LABEL
    flag: str = ""

    @property
    def active(self) -> bool:
        """Part of the image's findings (not rejected, not deleted)."""
        return self.status in ACTIVE_STATUSES

    @property
    def source(self) -> str:
        """``"ground_truth"``, ``"model"`` (a prediction, accepted or not) or ``"reviewer"``."""
        if self.kind is BoxKind.GROUND_TRUTH:
            return "ground_truth"
        if self.kind is BoxKind.PREDICTION or self.score is not None:
            return "model"
        return "reviewer"

    @property
    def xywh(self) -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = self.xyxy
        return (x0, y0, x1 - x0, y1 - y0)

    @property
    def proposed_xywh(self) -> tuple[float, float, float, float]:
        """The geometry the model proposed (:attr:`model_xyxy`, else the current one)."""
        x0, y0, x1, y1 = self.model_xyxy if self.model_xyxy is not None else self.xyxy
        return (x0, y0, x1 - x0, y1 - y0)


#: Status texts of ground-truth boxes (their stored status is ``proposed`` until edited).
GROUND_TRUTH_TEXT = {
    BoxStatus.PROPOSED: "ground truth",
    BoxStatus.EDITED: "edited",
    BoxStatus.DELETED: "removed",
}
#: Status text of a ground-truth box that an accepted prediction confirms, and of that box.
CONFIRMED_TEXT = "confirmed"
CONFIRMS_TEXT = "confirms GT"


def status_text(box: ReviewBox, *, confirmed: bool = False, confirms: bool = False) -> str:
    """What the Findings table and the audit export call a box's status.

    Ground truth reads ``"ground truth"`` (``"confirmed"`` when an accepted prediction
    confirms it, ``"edited"`` when moved, ``"removed"`` when deleted); an accepted prediction
    that confirms a ground-truth box reads ``"confirms GT"``; any other box its status value.
    """
    if box.kind is BoxKind.GROUND_TRUTH:
        if confirmed and box.active:
            return CONFIRMED_TEXT
        return GROUND_TRUTH_TEXT.get(box.status, box.status.value)
    if confirms and box.active:
        return CONFIRMS_TEXT
    return box.status.value


@dataclass(frozen=True)
class ImageReview:
    """One image (one frame) of the session and its review state.

    ``seconds`` is the time the image was on screen (:meth:`ReviewState.add_seconds`),
    ``edits`` the number of edit steps applied to it (undo and redo count too).
    ``predicted_by`` lists the models whose predictions were set on it. ``note`` is the
    reader's free-text note on the image (one line).
    """

    key: str
    patient_id: str
    path: str = ""
    sop_instance_uid: str = ""
    frame: int = 0
    status: ImageStatus = ImageStatus.UNREVIEWED
    seconds: float = 0.0
    edits: int = 0
    reviewer: str = ""
    modified: float = 0.0
    predicted_by: tuple[str, ...] = ()
    rsna_class: str = ""
    note: str = ""


@dataclass(frozen=True)
class ModelInfo:
    """A model whose predictions are in the session (``meta``: checkpoint metadata)."""

    name: str
    path: str = ""
    threshold: float = 0.5
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    added: float = 0.0


@dataclass(frozen=True)
class ImageCounts:
    """Worklist numbers of one image at a score threshold and an IoU."""

    predictions: int  # proposed/accepted/edited model boxes at the threshold
    max_score: float | None
    ground_truth: int  # active ground-truth boxes
    reviewer: int  # active reviewer boxes (accepted, edited, added)
    disagreement: int  # unmatched ground truth + unmatched predictions at the IoU


@dataclass(frozen=True)
class Comparison:
    """Ground truth vs predictions on one image (box ids), at a threshold and an IoU."""

    matched: tuple[tuple[str, str], ...]  # (ground-truth id, prediction id)
    missed: tuple[str, ...]  # ground-truth boxes no prediction matched
    false_positives: tuple[str, ...]  # predictions that matched no ground truth
    rsna_score: float | None  # the RSNA metric of this image (None: skipped by the rule)


def check_text(value: object, what: str, limit: int) -> str:
    """``value`` as one line of text (surrounding blanks dropped); ReviewError if too long.

    Line breaks and other control characters become spaces (a note is one CSV cell).
    """
    if not isinstance(value, str):
        raise ReviewError(f"{what} must be text, not {type(value).__name__}")
    text = "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in value).strip()
    if len(text) > limit:
        raise ReviewError(f"{what} is {len(text)} characters; at most {limit} are kept")
    return text


def either_box(before: ReviewBox | None, after: ReviewBox | None) -> ReviewBox:
    box = before if before is not None else after
    if box is None:
        raise ReviewError("a change needs a box before or after it")
    return box


def as_enum_set(value: Any, enum: type[Enum]) -> set[Any] | None:
    if value is None:
        return None
    if isinstance(value, (str, Enum)):
        return {enum(value)}
    return {enum(v) for v in value}
