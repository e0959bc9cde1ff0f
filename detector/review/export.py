"""Review → CSV: corrected labels, the audit trail, or a submission. Atomic, checked first.

An accepted prediction that the one matcher (:func:`detector.rsna.matching.match_boxes`) pairs
with an active ground-truth box at the compare IoU (the Findings dock's, default 0.50)
*confirms* it (:meth:`ReviewState.confirmations`): the pair is one lesion.

``labels``
    RSNA ``patientId,x,y,width,height,Target`` of every reviewed image (status reviewed or
    no opacity): its final boxes, i.e. the active ground-truth and reviewer boxes (ground truth
    kept or edited, accepted or edited predictions, drawn boxes), one row per lesion: a
    confirmed pair is one row, in the ground truth's geometry, or the accepted box's when the
    reader moved it. Predictions the reviewer did not accept (undecided), rejected and deleted
    boxes are left out. A reviewed image without boxes is one ``Target=0`` row.
    ``pneumoview train --labels`` and ``eval --truth`` read it.
``audit``
    Every final box as its own row (both boxes of a confirmed pair) plus ``source``
    (ground_truth/model/reviewer), ``score``, ``status`` (:func:`records.status_text`: ground
    truth reads ``ground truth``, ``confirmed`` or ``edited``), ``reviewer``, ``modified`` (UTC,
    ISO 8601), ``seconds_on_image``, ``edits``, ``image_status``, ``sop_instance_uid``,
    ``path``, ``box_id``, ``confirms`` (on an accepted prediction: the id of the ground-truth
    box it confirms), ``label`` (the box's class from the session's label set), ``flag``
    (``equivocal`` or empty), ``image_note`` (the reader's note on the image, on every row of
    that image); plus one row per rejected prediction (its box, ``Target=0``,
    ``status=rejected``).
``submission``
    What the model said: RSNA ``patientId,PredictionString`` (``conf x y w h ...``, highest
    score first) for every image the current model ran on, with every box that model proposed
    at ``score >= threshold`` in the geometry and score it proposed, whatever the review did
    (accepted, moved, rejected, undecided alike). ``threshold`` defaults to the threshold of
    the model used last in the session (0.5 when none was recorded).
``reviewed-submission``
    The reviewed result as a submission: for every reviewed image, the rows of ``labels`` as
    ``conf x y w h`` with the accepted prediction's score for an accepted (or confirming)
    prediction and 1.0 for ground truth and drawn boxes; empty for an image without boxes.
    Undecided predictions are left out, as in ``labels``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from datetime import UTC, datetime

from detector.errors import PneumoViewError
from detector.files.output import OutputError, check_output_file, remove_stale_temp_files
from detector.review.records import (
    DONE_STATUSES,
    BoxKind,
    BoxStatus,
    ImageReview,
    ReviewBox,
    status_text,
)
from detector.review.state import ReviewState
from detector.rsna.csv_write import (
    box_cells,
    box_problem,
    format_score,
    label_rows,
    prediction_string,
    write_rows,
)

EXPORT_FORMATS: tuple[str, ...] = ("labels", "audit", "submission", "reviewed-submission")
#: The compare IoU at which an accepted prediction confirms a ground-truth box (default).
CONFIRM_IOU = 0.5
LABEL_COLUMNS = ("patientId", "x", "y", "width", "height", "Target")
AUDIT_COLUMNS = LABEL_COLUMNS + (
    "source",
    "score",
    "status",
    "reviewer",
    "modified",
    "seconds_on_image",
    "edits",
    "image_status",
    "sop_instance_uid",
    "path",
    "box_id",
    "confirms",
    "label",
    "flag",
    "image_note",
)
SUBMISSION_COLUMNS = ("patientId", "PredictionString")
#: Score of a ground-truth or drawn box in ``reviewed-submission``.
REVIEWED_SCORE = 1.0
#: Used for ``submission`` when the session recorded no model.
FALLBACK_THRESHOLD = 0.5


class ExportError(PneumoViewError):
    """The output cannot be written; ``str(err)`` is ``"<file name>: <reason>"``."""


def default_threshold(state: ReviewState) -> float:
    """The threshold of the model added last to the session (0.5 without one)."""
    if not state.models:
        return FALLBACK_THRESHOLD
    latest = max(state.models.values(), key=lambda m: m.added)
    return float(latest.threshold)


_FINAL_KINDS = (BoxKind.GROUND_TRUTH, BoxKind.REVIEWER)


def final_boxes(state: ReviewState, image: str) -> list[ReviewBox]:
    """The active ground-truth and reviewer boxes of an image (the audit rows)."""
    return [b for b in state.boxes(image) if b.kind in _FINAL_KINDS and b.active]


def lesion_boxes(
    state: ReviewState, image: str, iou_threshold: float = CONFIRM_IOU
) -> list[tuple[tuple[float, float, float, float], float | None]]:
    """One ``(xywh, score)`` per lesion of an image's labels (see the module docstring).

    A confirmed pair gives one entry at the ground-truth box's place: the ground truth's
    geometry, the accepted box's when the reader moved it (status EDITED), and the accepted
    prediction's score. Other final boxes give their own geometry and score (None for
    ground truth and drawn boxes).
    """
    return [(xywh, score) for xywh, score, _source in lesion_sources(state, image, iou_threshold)]


def lesion_sources(
    state: ReviewState, image: str, iou_threshold: float = CONFIRM_IOU
) -> list[tuple[tuple[float, float, float, float], float | None, str]]:
    """:func:`lesion_boxes` with the source of each entry's geometry.

    The source (:attr:`ReviewBox.source`: ``ground_truth``, ``model`` or ``reviewer``) is that
    of the box whose geometry is written: the ground truth's for a confirmed pair, the accepted
    prediction's when the reader moved it.
    """
    confirmed = state.confirmations(image, iou_threshold)
    confirming = set(confirmed.values())
    out: list[tuple[tuple[float, float, float, float], float | None, str]] = []
    for box in final_boxes(state, image):
        if box.id in confirming:
            continue  # written with the ground-truth box it confirms
        if box.id in confirmed:
            accepted = state.box(confirmed[box.id])
            shape = accepted if accepted.status is BoxStatus.EDITED else box
            out.append((shape.xywh, accepted.score, shape.source))
        else:
            out.append((box.xywh, box.score, box.source))
    return out


def export_note(
    state: ReviewState,
    fmt: str,
    *,
    threshold: float | None = None,
    iou_threshold: float = CONFIRM_IOU,
) -> str:
    """One line that says what an export holds (the rule it applied, with its numbers)."""
    if fmt == "submission":
        thr = default_threshold(state) if threshold is None else float(threshold)
        model = state.current_model or "every model"
        return (
            f"the model's output: {model}'s proposals with score >= {thr:.2f} as proposed, "
            "accepted, moved and rejected alike"
        )
    pairs = sum(len(state.confirmations(im.key, iou_threshold)) for im in _reviewed(state))
    rule = (
        f"{pairs} ground-truth box(es) confirmed by an accepted prediction at IoU >= "
        f"{iou_threshold:.2f}"
    )
    if fmt == "audit":
        return f"{rule}: both rows kept, linked by the confirms column"
    return (
        f"{rule}: one row each (the ground truth's geometry, the reader's where the accepted "
        "box was moved); undecided predictions left out"
    )


def export_review(
    state: ReviewState,
    out: str | os.PathLike[str],
    fmt: str = "labels",
    *,
    threshold: float | None = None,
    iou_threshold: float = CONFIRM_IOU,
    problems: list[str] | None = None,
) -> int:
    """Write one export format atomically; returns the number of data rows.

    Only boxes the readers accept are written (:func:`detector.rsna.csv_write.box_problem`:
    finite, and wider and taller than 0 at the writer's 1/1000 pixel); any other box is left
    out and a line naming its image is appended to ``problems``. A reviewed image whose every
    box is left out is left out of ``labels`` and ``reviewed-submission`` (it would otherwise
    read as "no opacity").

    Temp files left beside ``out`` by a killed export (``.pv-<pid>-*.tmp`` of a process that is
    gone) are removed first, as every writer does.

    ``threshold`` is the ``submission`` score threshold; ``iou_threshold`` the compare IoU at
    which an accepted prediction confirms a ground-truth box (see the module docstring).

    Raises
    ------
    ValueError
        Unknown format, a threshold outside [0, 1] or an IoU outside (0, 1].
    ExportError
        The output cannot be written (checked before anything is done by
        :func:`detector.files.output.check_output_file`: a folder, a FIFO or another
        non-regular file, a missing or read-only folder).
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (use {', '.join(EXPORT_FORMATS)})")
    if threshold is not None and not (math.isfinite(threshold) and 0.0 <= threshold <= 1.0):
        raise ValueError(f"threshold must be in [0, 1], not {threshold}")
    if not (math.isfinite(iou_threshold) and 0.0 < iou_threshold <= 1.0):
        raise ValueError(f"IoU threshold must be in (0, 1], not {iou_threshold}")
    try:
        target = check_output_file(out)
    except OutputError as err:
        raise ExportError(err.path, err.reason) from None
    # The same clean-up as every other writer: temp files of a killed export are removed.
    remove_stale_temp_files(target.parent)
    keep = _BoxFilter([] if problems is None else problems)
    columns: tuple[str, ...]
    rows: Iterator[list[str]]
    if fmt == "submission":
        thr = default_threshold(state) if threshold is None else float(threshold)
        columns, rows = SUBMISSION_COLUMNS, _submission_rows(state, thr, keep)
    elif fmt == "reviewed-submission":
        columns, rows = SUBMISSION_COLUMNS, _reviewed_submission_rows(state, iou_threshold, keep)
    elif fmt == "audit":
        columns, rows = AUDIT_COLUMNS, _audit_rows(state, iou_threshold, keep)
    else:
        columns, rows = LABEL_COLUMNS, _label_rows(state, iou_threshold, keep)
    try:
        return write_rows(target, columns, rows)
    except OSError as exc:
        raise ExportError(target, f"cannot write ({exc.strerror or exc})") from None


# ---------------------------------------------------------------------------------------------


class _BoxFilter:
    """Which boxes can be written; a line per box left out (see :func:`export_review`)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems

    def __call__(self, image: ImageReview, xywh: tuple[float, float, float, float]) -> bool:
        reason = box_problem(xywh)
        if reason is not None:
            self.problems.append(
                f"image {image.patient_id} ({image.path or image.key}): {reason}; left out"
            )
        return reason is None

    def lesions(
        self, state: ReviewState, image: ImageReview, iou_threshold: float
    ) -> list[tuple[tuple[float, float, float, float], float | None]] | None:
        """The writable lesions of an image; None when it had boxes and none is writable."""
        lesions = lesion_boxes(state, image.key, iou_threshold)
        kept = [(xywh, score) for xywh, score in lesions if self(image, xywh)]
        if lesions and not kept:
            self.problems.append(
                f"image {image.patient_id} ({image.path or image.key}): no box left to write; "
                "the image is left out"
            )
            return None
        return kept


def _time(stamp: float) -> str:
    if not stamp:
        return ""
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")


def _reviewed(state: ReviewState) -> Iterator[ImageReview]:
    for image in state.images.values():
        if image.status in DONE_STATUSES:
            yield image


def _label_rows(state: ReviewState, iou_threshold: float, keep: _BoxFilter) -> Iterator[list[str]]:
    for image in _reviewed(state):
        lesions = keep.lesions(state, image, iou_threshold)
        if lesions is not None:
            yield from label_rows(
                [(image.patient_id, [xywh for xywh, _s in lesions])], with_score=False
            )


def _audit_rows(state: ReviewState, iou_threshold: float, keep: _BoxFilter) -> Iterator[list[str]]:
    for image in _reviewed(state):
        tail = [
            f"{image.seconds:.1f}",
            str(image.edits),
            image.status.value,
            image.sop_instance_uid,
            image.path,
        ]
        every_box = final_boxes(state, image.key)
        boxes = [b for b in every_box if keep(image, b.xywh)]
        rejected = [
            b
            for b in state.boxes(image.key, kind=BoxKind.PREDICTION, status=BoxStatus.REJECTED)
            if keep(image, b.xywh)
        ]
        confirmed = state.confirmations(image.key, iou_threshold)
        confirms = {acc: gt for gt, acc in confirmed.items()}
        if not every_box:
            # The image-level row of a reviewed image without findings (not of one whose
            # boxes were all left out: that would read as "no opacity").
            yield [
                image.patient_id, "", "", "", "", "0", "reviewer", "", image.status.value,
                image.reviewer, _time(image.modified), *tail, "", "", "", "", image.note,
            ]  # fmt: skip
        for box, target in [(b, "1") for b in boxes] + [(b, "0") for b in rejected]:
            status = status_text(box, confirmed=box.id in confirmed)
            yield [
                image.patient_id, *box_cells(box.xywh), target, box.source,
                "" if box.score is None else format_score(box.score), status,
                box.author, _time(box.modified), *tail, box.id, confirms.get(box.id, ""),
                box.label, box.flag, image.note,
            ]  # fmt: skip


def _submission_rows(state: ReviewState, threshold: float, keep: _BoxFilter) -> Iterator[list[str]]:
    current = state.current_model
    for image in state.images.values():
        ran = current in image.predicted_by if current is not None else bool(image.predicted_by)
        if not ran:
            continue
        boxes = [
            b
            for b in state.proposals_of_model(image.key, threshold)
            if keep(image, b.proposed_xywh)
        ]
        yield [
            image.patient_id,
            prediction_string((b.score or 0.0, b.proposed_xywh) for b in boxes),
        ]


def _reviewed_submission_rows(
    state: ReviewState, iou_threshold: float, keep: _BoxFilter
) -> Iterator[list[str]]:
    for image in _reviewed(state):
        lesions = keep.lesions(state, image, iou_threshold)
        if lesions is None:
            continue
        yield [
            image.patient_id,
            prediction_string(
                (REVIEWED_SCORE if score is None else score, xywh) for xywh, score in lesions
            ),
        ]
