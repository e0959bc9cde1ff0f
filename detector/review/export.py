"""Review → CSV: corrected labels, the audit trail, or a submission. Atomic, checked first.

``labels``
    RSNA ``patientId,x,y,width,height,Target`` of every reviewed image (status reviewed or
    no opacity): its final boxes, i.e. the active ground-truth and reviewer boxes (ground truth
    kept or edited, accepted or edited predictions, drawn boxes). Proposed predictions the
    reviewer did not accept, rejected and deleted boxes are left out. A reviewed image without
    boxes is one ``Target=0`` row. ``pneumoview train --labels`` and ``eval --truth`` read it.
``audit``
    The same rows plus ``source`` (ground_truth/model/reviewer), ``score``, ``status``,
    ``reviewer``, ``modified`` (UTC, ISO 8601), ``seconds_on_image``, ``edits``,
    ``image_status``, ``sop_instance_uid``, ``path``, ``box_id``; plus one row per rejected
    prediction (its box, ``Target=0``, ``status=rejected``).
``submission``
    RSNA ``patientId,PredictionString`` (``conf x y w h ...``, highest score first) for every
    image a model ran on: the model's boxes with ``score >= threshold`` that the reviewer did
    not reject (their current geometry). ``threshold`` defaults to the threshold of the model
    used last in the session (0.5 when none was recorded).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from datetime import UTC, datetime

from detector.errors import PneumoViewError
from detector.files.output import OutputError, check_output_file
from detector.review.records import (
    DONE_STATUSES,
    BoxKind,
    BoxStatus,
    ImageReview,
    ReviewBox,
)
from detector.review.state import ReviewState
from detector.rsna.csv_write import (
    box_cells,
    format_score,
    label_rows,
    prediction_string,
    write_rows,
)

EXPORT_FORMATS: tuple[str, ...] = ("labels", "audit", "submission")
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
)
SUBMISSION_COLUMNS = ("patientId", "PredictionString")
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
    """The boxes an image's labels consist of (see the module docstring)."""
    return [b for b in state.boxes(image) if b.kind in _FINAL_KINDS and b.active]


def export_review(
    state: ReviewState,
    out: str | os.PathLike[str],
    fmt: str = "labels",
    *,
    threshold: float | None = None,
) -> int:
    """Write one export format atomically; returns the number of data rows.

    Raises
    ------
    ValueError
        Unknown format or a threshold outside [0, 1].
    ExportError
        The output cannot be written (checked before anything is done by
        :func:`detector.files.output.check_output_file`: a folder, a FIFO or another
        non-regular file, a missing or read-only folder).
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (use {', '.join(EXPORT_FORMATS)})")
    if threshold is not None and not (math.isfinite(threshold) and 0.0 <= threshold <= 1.0):
        raise ValueError(f"threshold must be in [0, 1], not {threshold}")
    try:
        target = check_output_file(out)
    except OutputError as err:
        raise ExportError(err.path, err.reason) from None
    columns: tuple[str, ...]
    rows: Iterator[list[str]]
    if fmt == "submission":
        thr = default_threshold(state) if threshold is None else float(threshold)
        columns, rows = SUBMISSION_COLUMNS, _submission_rows(state, thr)
    elif fmt == "audit":
        columns, rows = AUDIT_COLUMNS, _audit_rows(state)
    else:
        columns, rows = LABEL_COLUMNS, _label_rows(state)
    try:
        return write_rows(target, columns, rows)
    except OSError as exc:
        raise ExportError(target, f"cannot write ({exc.strerror or exc})") from None


# ---------------------------------------------------------------------------------------------


def _time(stamp: float) -> str:
    if not stamp:
        return ""
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")


def _reviewed(state: ReviewState) -> Iterator[ImageReview]:
    for image in state.images.values():
        if image.status in DONE_STATUSES:
            yield image


def _label_rows(state: ReviewState) -> Iterator[list[str]]:
    items = (
        (im.patient_id, [b.xywh for b in final_boxes(state, im.key)]) for im in _reviewed(state)
    )
    yield from label_rows(items, with_score=False)


def _audit_rows(state: ReviewState) -> Iterator[list[str]]:
    for image in _reviewed(state):
        tail = [
            f"{image.seconds:.1f}",
            str(image.edits),
            image.status.value,
            image.sop_instance_uid,
            image.path,
        ]
        boxes = final_boxes(state, image.key)
        rejected = state.boxes(image.key, kind=BoxKind.PREDICTION, status=BoxStatus.REJECTED)
        if not boxes:
            # The image-level row of a reviewed image without findings.
            yield [
                image.patient_id, "", "", "", "", "0", "reviewer", "", image.status.value,
                image.reviewer, _time(image.modified), *tail, "",
            ]  # fmt: skip
        for box, target in [(b, "1") for b in boxes] + [(b, "0") for b in rejected]:
            yield [
                image.patient_id, *box_cells(box.xywh), target, box.source,
                "" if box.score is None else format_score(box.score), box.status.value,
                box.author, _time(box.modified), *tail, box.id,
            ]  # fmt: skip


def _submission_rows(state: ReviewState, threshold: float) -> Iterator[list[str]]:
    for image in state.images.values():
        if not image.predicted_by:
            continue
        boxes = state.model_boxes(image.key, threshold)
        yield [image.patient_id, prediction_string((b.score or 0.0, b.xywh) for b in boxes)]
