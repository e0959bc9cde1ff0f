"""Ground truth into a review: an RSNA labels CSV and, optionally, a class-info CSV.

Rows are matched to open images by patientId (:func:`detector.files.identity.patient_id_for`). Rows
for images that are not open are kept in the session and counted (they attach when the image
is opened); malformed rows are skipped and reported with their line numbers (the readers of
:mod:`detector.rsna.labels`); importing the same file twice adds nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from detector.review.records import XYXY
from detector.review.state import ReviewState
from detector.rsna.labels import (
    Box,
    LabelsFile,
    outside_problem,
    read_class_info,
    read_labels,
)


@dataclass
class ImportReport:
    """What an import did (``problems``: ``"<file>:<line>: <reason>"`` per skipped row)."""

    path: str
    rows: int = 0
    images: int = 0  # open images with rows in the file
    boxes_added: int = 0
    not_open: int = 0  # patientIds of the file without an open image
    kept: int = 0  # boxes newly kept for those
    skipped: int = 0
    outside: int = 0  # boxes wholly outside their image (imported, with a warning)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the status bar or the terminal."""
        name = Path(self.path).name
        text = (
            f"{name}: {self.boxes_added} box(es) added on {self.images} open image(s)"
            f"; {self.not_open} patient(s) not open"
        )
        if self.kept:
            text += f" ({self.kept} box(es) kept for when they are opened)"
        if self.skipped:
            text += f"; {self.skipped} bad row(s) skipped"
        if self.outside:
            text += f"; warning: {self.outside} box(es) wholly outside their image"
        return text


def wholly_outside(box: Box, size: tuple[int, int] | None = None) -> bool:
    """Whether an ``(x, y, w, h)`` box has no pixel on its image (``size`` is ``(height,
    width)``; without it, only boxes wholly at negative coordinates are outside)."""
    x, y, w, h = box
    if x + w <= 0 or y + h <= 0:
        return True
    return size is not None and (x >= size[1] or y >= size[0])


@dataclass
class LabelsPlan:
    """A labels CSV read and matched to the open images, not yet applied to the review.

    Made without touching the review (:func:`plan_labels`, safe in a worker thread given a
    ``patients`` snapshot); :func:`apply_plan` applies it in one step.
    """

    labels: LabelsFile
    patients: dict[str, list[str]]  # the patientId -> image keys it was matched against
    sizes: Mapping[str, tuple[int, int]] | None
    report: ImportReport
    open_boxes: dict[str, list[XYXY]] = field(default_factory=dict)
    pending: dict[str, list[XYXY]] = field(default_factory=dict)


def open_patients(state: ReviewState) -> dict[str, list[str]]:
    """patientId -> keys of its open images (in the order they were added): a snapshot."""
    out: dict[str, list[str]] = {}
    for key, image in state.images.items():
        out.setdefault(image.patient_id, []).append(key)
    return out


def plan_labels(
    labels: LabelsFile,
    patients: Mapping[str, Sequence[str]],
    sizes: Mapping[str, tuple[int, int]] | None = None,
) -> LabelsPlan:
    """Match the rows of ``labels`` to open images (``patients``: patientId -> image keys).

    Boxes of open images go to ``open_boxes``, those of other patientIds to ``pending``. A
    box wholly outside its image (``sizes``: image key -> ``(height, width)`` where known;
    otherwise a box wholly at negative coordinates) is kept as written and reported in the
    report's ``problems`` as a warning with its line (:func:`detector.rsna.labels.outside_problem`).
    """
    spath = labels.path
    origin = Path(spath).name
    report = ImportReport(
        spath, rows=labels.rows, skipped=labels.skipped, problems=list(labels.problems)
    )
    plan = LabelsPlan(labels, {p: list(k) for p, k in patients.items()}, sizes, report)
    for pid, boxes in labels.boxes.items():
        xyxy = [(x, y, x + w, y + h) for x, y, w, h in boxes]
        keys = patients.get(pid, ())
        size = next((sizes[k] for k in keys if k in sizes), None) if sizes else None
        for box, line in zip(boxes, labels.lines.get(pid, []), strict=False):
            if wholly_outside(box, size):
                report.outside += 1
                report.problems.append(
                    outside_problem(
                        f"{origin}:{line}",
                        box,
                        size[1] if size else None,
                        size[0] if size else None,
                        image=pid,
                    )
                )
        if keys:
            report.images += 1
            if xyxy:
                for key in keys:
                    plan.open_boxes.setdefault(key, []).extend(xyxy)
        else:
            report.not_open += 1
            if xyxy:
                plan.pending[pid] = xyxy
    return plan


def read_plan(
    path: str | os.PathLike[str],
    patients: Mapping[str, Sequence[str]],
    sizes: Mapping[str, tuple[int, int]] | None = None,
    *,
    progress: Callable[[int, int], object] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> LabelsPlan:
    """Read a labels CSV and match it to ``patients`` (no review touched: a worker's job).

    ``progress`` and ``cancelled`` are passed to :func:`detector.rsna.labels.read_labels`.

    Raises
    ------
    detector.rsna.labels.LabelsError
        A file that cannot be used at all.
    detector.rsna.labels.ReadCancelled
        ``cancelled()`` returned True.
    """
    labels = read_labels(path, progress=progress, cancelled=cancelled)
    return plan_labels(labels, patients, sizes)


def apply_plan(state: ReviewState, plan: LabelsPlan) -> ImportReport:
    """Add the planned ground truth to ``state`` in one step; returns the full report.

    When the open images changed since the plan was made, it is matched again first.
    """
    if open_patients(state) != plan.patients:
        plan = plan_labels(plan.labels, open_patients(state), plan.sizes)
    report = plan.report
    origin = Path(plan.labels.path).name
    added, kept = state.import_ground_truth(plan.open_boxes, origin, plan.pending)
    report.boxes_added, report.kept = len(added), kept
    return report


def import_labels(
    state: ReviewState,
    path: str | os.PathLike[str],
    sizes: Mapping[str, tuple[int, int]] | None = None,
) -> ImportReport:
    """Import ground-truth boxes from an RSNA labels CSV (``patientId,x,y,width,height,Target``).

    :func:`read_plan` then :func:`apply_plan`: boxes wholly outside their image are imported
    and reported as warnings (see :func:`plan_labels`).

    Raises
    ------
    detector.rsna.labels.LabelsError
        A file that cannot be used at all (missing, binary, missing columns...).
    """
    return apply_plan(state, read_plan(path, open_patients(state), sizes))


def import_classes(state: ReviewState, path: str | os.PathLike[str]) -> ImportReport:
    """Import ``patientId,class`` (RSNA detailed class info) onto the open images.

    Its classes join the session's box label set (:meth:`ReviewState.add_labels`).

    Raises
    ------
    detector.rsna.labels.LabelsError
        A file that cannot be used at all.
    """
    spath = os.fspath(path)
    classes = read_class_info(spath)
    problems = list(getattr(classes, "problems", []))
    report = ImportReport(spath, problems=problems, skipped=len(problems))
    found: dict[str, str] = {}
    for pid, cls in classes.items():
        keys = state.keys_for_patient(pid)
        if not keys:
            report.not_open += 1
            continue
        report.images += 1
        for key in keys:
            found[key] = cls
    state.set_rsna_classes(found)
    # Its classes are the session's box labels, whether or not their patients are open.
    state.add_labels(sorted(set(classes.values())))
    return report
