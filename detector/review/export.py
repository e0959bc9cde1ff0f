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

import csv
import math
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from detector.errors import PneumoViewError
from detector.files.output import atomic_open
from detector.review.state import (
    DONE_STATUSES,
    BoxKind,
    BoxStatus,
    ImageReview,
    ReviewBox,
    ReviewState,
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


def check_output(path: str | os.PathLike[str]) -> Path:
    """Fail early (before any work) when ``path`` cannot be written as a file.

    Raises
    ------
    ExportError
        A folder, a missing parent folder, or a folder/file without write permission.
    """
    out = Path(os.fspath(path))
    if out.is_dir():
        raise ExportError(out, "is a folder; give a CSV file name")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise ExportError(out, f"folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(out, f"folder {parent} is not writable")
    if out.exists() and not os.access(out, os.W_OK):
        raise ExportError(out, "file exists and is not writable")
    return out


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
        The output cannot be written (checked before anything is done).
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (use {', '.join(EXPORT_FORMATS)})")
    if threshold is not None and not (math.isfinite(threshold) and 0.0 <= threshold <= 1.0):
        raise ValueError(f"threshold must be in [0, 1], not {threshold}")
    target = check_output(out)
    columns: tuple[str, ...]
    rows: Iterator[list[str]]
    if fmt == "submission":
        thr = default_threshold(state) if threshold is None else float(threshold)
        columns, rows = SUBMISSION_COLUMNS, _submission_rows(state, thr)
    elif fmt == "audit":
        columns, rows = AUDIT_COLUMNS, _audit_rows(state)
    else:
        columns, rows = LABEL_COLUMNS, _label_rows(state)
    n = 0
    try:
        with atomic_open(target, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(columns)
            for row in rows:
                writer.writerow(row)
                n += 1
    except OSError as exc:
        raise ExportError(target, f"cannot write ({exc.strerror or exc})") from None
    return n


# ---------------------------------------------------------------------------------------------


def _num(value: float) -> str:
    """Pixels as short text: ``12``, ``12.5``, ``12.346`` (1/1000 pixel is below any reader)."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _time(stamp: float) -> str:
    if not stamp:
        return ""
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")


def _reviewed(state: ReviewState) -> Iterator[ImageReview]:
    for image in state.images.values():
        if image.status in DONE_STATUSES:
            yield image


def _label_rows(state: ReviewState) -> Iterator[list[str]]:
    for image in _reviewed(state):
        boxes = final_boxes(state, image.key)
        if not boxes:
            yield [image.patient_id, "", "", "", "", "0"]
        for box in boxes:
            x, y, w, h = box.xywh
            yield [image.patient_id, _num(x), _num(y), _num(w), _num(h), "1"]


def _audit_rows(state: ReviewState) -> Iterator[list[str]]:
    for image in _reviewed(state):
        tail = [
            f"{image.seconds:.1f}",
            str(image.edits),
            image.status.value,
            image.sop_instance_uid,
            image.path,
        ]
        every = state.boxes(image.key)
        boxes = [b for b in every if b.kind in _FINAL_KINDS and b.active]
        rejected = [
            b for b in every if b.kind is BoxKind.PREDICTION and b.status is BoxStatus.REJECTED
        ]
        if not boxes:
            # The image-level row of a reviewed image without findings.
            yield [
                image.patient_id, "", "", "", "", "0", "reviewer", "", image.status.value,
                image.reviewer, _time(image.modified), *tail, "",
            ]  # fmt: skip
        for box, target in [(b, "1") for b in boxes] + [(b, "0") for b in rejected]:
            x, y, w, h = box.xywh
            yield [
                image.patient_id, _num(x), _num(y), _num(w), _num(h), target, box.source,
                "" if box.score is None else f"{box.score:.4f}", box.status.value, box.author,
                _time(box.modified), *tail, box.id,
            ]  # fmt: skip


def _submission_rows(state: ReviewState, threshold: float) -> Iterator[list[str]]:
    for image in state.images.values():
        if not image.predicted_by:
            continue
        boxes = state.model_boxes(image.key, threshold)
        boxes.sort(key=lambda b: -(b.score or 0.0))
        parts = []
        for box in boxes:
            x, y, w, h = box.xywh
            parts.append(f"{box.score:.4f} {_num(x)} {_num(y)} {_num(w)} {_num(h)}")
        yield [image.patient_id, " ".join(parts)]
