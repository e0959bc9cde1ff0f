"""Ground truth into a review: an RSNA labels CSV and, optionally, a class-info CSV.

Rows are matched to open images by patientId (:func:`detector.files.identity.patient_id_for`). Rows
for images that are not open are kept in the session and counted (they attach when the image
is opened); malformed rows are skipped and reported with their line numbers (the readers of
:mod:`detector.rsna.labels`); importing the same file twice adds nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from detector.review.records import XYXY
from detector.review.state import ReviewState
from detector.rsna.labels import Box, outside_problem, read_class_info, read_labels


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


def import_labels(
    state: ReviewState,
    path: str | os.PathLike[str],
    sizes: Mapping[str, tuple[int, int]] | None = None,
) -> ImportReport:
    """Import ground-truth boxes from an RSNA labels CSV (``patientId,x,y,width,height,Target``).

    A box wholly outside its image (``sizes``: image key -> ``(height, width)`` where known;
    otherwise a box wholly at negative coordinates) is imported as written and reported in
    ``problems`` as a warning with its line (:func:`detector.rsna.labels.outside_problem`).

    Raises
    ------
    detector.rsna.labels.LabelsError
        A file that cannot be used at all (missing, binary, missing columns...).
    """
    spath = os.fspath(path)
    labels = read_labels(spath)
    origin = Path(spath).name
    report = ImportReport(
        spath, rows=labels.rows, skipped=labels.skipped, problems=list(labels.problems)
    )
    open_boxes: dict[str, list[XYXY]] = {}
    pending: dict[str, list[XYXY]] = {}
    for pid, boxes in labels.boxes.items():
        xyxy = [(x, y, x + w, y + h) for x, y, w, h in boxes]
        keys = state.keys_for_patient(pid)
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
                    open_boxes.setdefault(key, []).extend(xyxy)
        else:
            report.not_open += 1
            if xyxy:
                pending[pid] = xyxy
    added, kept = state.import_ground_truth(open_boxes, origin, pending)
    report.boxes_added, report.kept = len(added), kept
    return report


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
