"""Writing RSNA CSV files: labels and submissions, one number format, written atomically.

Every RSNA CSV PneumoView writes (``detect``, ``export``, ``synth``) goes through this
module, so the same box is the same text everywhere:

* coordinates (``x``, ``y``, ``width``, ``height``) with at most 3 decimals, trailing zeros
  dropped: ``12``, ``12.5``, ``12.346`` (:func:`format_coord`). Any coordinate given to
  1/1000 pixel (every integer, every box read from an RSNA file or drawn in the viewer at
  that precision) reads back as the very same number; 1/1000 pixel is below any reader.
* scores with exactly 4 decimals: ``0.9000`` (:func:`format_score`).

Rows are ``\\n``-terminated and quoted by :mod:`csv` where needed; text cells that a
spreadsheet would run as a formula get a leading ``'`` (:mod:`detector.rsna.csv_cells`); file
names that are not UTF-8 are written as their bytes (surrogate escapes); files are written
through :func:`detector.files.output.atomic_open`. Every CSV PneumoView writes (``convert``'s
index and ``train``'s split file too) goes through :func:`write_rows`. The formats are described in
:mod:`detector.rsna.labels`, which reads them.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping, Sequence

from detector.files.output import atomic_open
from detector.rsna.csv_cells import escape_row
from detector.rsna.labels import LABEL_COLUMNS, SUBMISSION_COLUMNS, Box
from detector.types import Detection, DetectionResult


def format_coord(value: float) -> str:
    """A box coordinate as text: ``12``, ``12.5``, ``12.346`` (3 decimals at most)."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_score(value: float) -> str:
    """A confidence as text with 4 decimals: ``0.9000``."""
    return f"{value:.4f}"


def box_problem(box_xywh: Sequence[float]) -> str | None:
    """Why a box cannot be written as a row its own reader accepts, or None when it can.

    A box is written when its four values and its far corner are finite and its width and
    height are still positive after :func:`format_coord`'s rounding (a box narrower than
    0.0005 px would be written as width 0, which :func:`detector.rsna.labels.read_labels`
    rejects).
    """
    x, y, w, h = (float(v) for v in box_xywh)
    if not all(math.isfinite(v) for v in (x, y, w, h, x + w, y + h, w * h)):
        return f"box (x={x:g}, y={y:g}, width={w:g}, height={h:g}) is not finite"
    if float(format_coord(w)) <= 0 or float(format_coord(h)) <= 0:
        return (
            f"box (x={x:g}, y={y:g}, width={w:g}, height={h:g}) has no width or height at "
            "1/1000 pixel"
        )
    return None


def box_cells(box_xywh: Sequence[float]) -> list[str]:
    """The ``x, y, width, height`` cells of one box."""
    return [format_coord(float(v)) for v in box_xywh]


def prediction_string(scored: Iterable[tuple[float, Sequence[float]]]) -> str:
    """A submission ``PredictionString``: ``"conf x y w h ..."``, highest score first.

    ``scored`` holds ``(score, (x, y, w, h))`` pairs; equal scores keep their order.
    """
    ordered = sorted(scored, key=lambda item: -item[0])
    return " ".join(" ".join([format_score(s), *box_cells(box)]) for s, box in ordered)


def write_rows(
    path: str | os.PathLike[str], columns: Sequence[str], rows: Iterable[Sequence[object]]
) -> int:
    """Write a header and ``rows`` atomically; returns the number of data rows.

    Every cell passes :func:`detector.rsna.csv_cells.escape_cell` (formula injection), and
    file names that are not UTF-8 keep their bytes (``errors="surrogateescape"``).

    Raises
    ------
    OSError
        The file cannot be written (the target is then left as it was).
    """
    n = 0
    with atomic_open(path, "w", newline="", encoding="utf-8", errors="surrogateescape") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(escape_row(columns))
        for row in rows:
            writer.writerow(escape_row(row))
            n += 1
    return n


def write_submission(
    path: str | os.PathLike[str], results: Iterable[DetectionResult], threshold: float
) -> int:
    """Write an RSNA submission CSV: one row per image, detections with ``score >= threshold``.

    Images that could not be processed (``result.error``) are left out.

    Returns
    -------
    int
        Rows written.
    """
    rows = (
        [r.image_id, prediction_string((d.score, d.box_xywh) for d in r.above(threshold))]
        for r in results
        if r.error is None
    )
    return write_rows(path, SUBMISSION_COLUMNS, rows)


#: What :func:`write_labels` takes per image: a result, or ``(patientId, boxes)`` where each box
#: is a :class:`~detector.types.Detection` (scored) or a plain ``(x, y, width, height)`` (no
#: score: a hand-drawn or ground-truth box).
LabelsItem = DetectionResult | tuple[str, Sequence[Detection | Sequence[float]]]


def _label_boxes(
    item: LabelsItem, threshold: float | None
) -> tuple[str, list[tuple[Box, float | None]]] | None:
    """``(patientId, [(xywh, score or None), ...])``, or None for a failed image."""
    if isinstance(item, DetectionResult):
        if item.error is not None:
            return None
        dets = item.detections if threshold is None else item.above(threshold)
        return item.image_id, [(d.box_xywh, d.score) for d in sorted(dets, key=lambda d: -d.score)]
    pid, boxes = item
    rows: list[tuple[Box, float | None]] = []
    for box in boxes:
        if isinstance(box, Detection):
            if threshold is None or box.score >= threshold:
                rows.append((box.box_xywh, box.score))
        else:
            x, y, w, h = (float(v) for v in box)
            rows.append(((x, y, w, h), None))
    return str(pid), rows


def label_rows(
    items: Iterable[LabelsItem], threshold: float | None = None, with_score: bool = True
) -> Iterable[list[str]]:
    """The rows :func:`write_labels` writes (see there); a Target=0 row for an image without boxes."""
    for item in items:
        parsed = _label_boxes(item, threshold)
        if parsed is None:
            continue
        pid, boxes = parsed
        if not boxes:
            yield [pid, "", "", "", "", "0"] + ([""] if with_score else [])
        for xywh, score in boxes:
            row = [pid, *box_cells(xywh), "1"]
            if with_score:
                row.append("" if score is None else format_score(score))
            yield row


def write_labels(
    path: str | os.PathLike[str],
    results: Iterable[LabelsItem] | Mapping[str, Sequence[Detection | Sequence[float]]],
    threshold: float | None = None,
    with_score: bool = True,
) -> int:
    """Write the RSNA labels format (plus ``score``): one row per box.

    Parameters
    ----------
    results : iterable or mapping
        :class:`DetectionResult` objects (failed images are left out), ``(patientId, boxes)``
        pairs or a ``{patientId: boxes}`` mapping; a box is a :class:`Detection` or a plain
        ``(x, y, width, height)`` without a score, whose ``score`` cell stays empty.
    threshold : float, optional
        Keep scored boxes with ``score >= threshold`` (unscored boxes are always kept);
        default: every box.
    with_score : bool
        Add the ``score`` column.

    An image with no box gets one ``Target=0`` row with empty box fields.

    Returns
    -------
    int
        Rows written.
    """
    items: Iterable[LabelsItem] = results.items() if isinstance(results, Mapping) else results
    columns = LABEL_COLUMNS + (("score",) if with_score else ())
    return write_rows(path, columns, label_rows(items, threshold, with_score))
