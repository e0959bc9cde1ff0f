"""``pneumoview export SESSION --format sr``: the reviewed result as one SR per reviewed image.

Exactly the lesions of the ``labels`` CSV export (:func:`detector.review.export.lesion_sources`:
final ground-truth and reviewer boxes, a confirmed pair once, undecided predictions left out;
a box that CSV export would leave out is left out here too, with the same line), each with its
source (model / reader / ground truth) and score, the reader's name as person observer and the
session's current model as the algorithm. A reviewed image without boxes gets a "no findings"
SR. The study, patient and UIDs come from the image file the session points to; an image whose
file cannot be read is left out with one line.
"""

from __future__ import annotations

import os
from pathlib import Path

from detector.errors import PneumoViewError
from detector.review.export import CONFIRM_IOU, lesion_sources
from detector.review.records import DONE_STATUSES
from detector.review.state import ReviewState
from detector.rsna.csv_write import box_problem
from detector.sr.batch import model_author, read_header
from detector.sr.write import SrAuthor, SrBox, write_sr


def session_author(state: ReviewState) -> SrAuthor:
    """The session's current model as the algorithm (name, checkpoint sha256)."""
    name = state.current_model
    if name is None:
        return SrAuthor(algorithm="PneumoView review", version="no model")
    info = state.models[name]
    author = model_author(info.path, info.meta) if info.path else SrAuthor()
    if not info.path or not Path(info.path).is_file():
        return SrAuthor(algorithm=f"PneumoView {name}", version=author.version)
    return author


def export_review_sr(
    state: ReviewState,
    out_dir: str | os.PathLike[str],
    *,
    iou_threshold: float = CONFIRM_IOU,
    problems: list[str] | None = None,
) -> int:
    """Write one SR per reviewed image into ``out_dir``; returns the number written.

    ``problems`` gets one line per box or image left out (see the module docstring).
    """
    lines: list[str] = [] if problems is None else problems
    author = session_author(state)
    written = 0
    for image in state.images.values():
        if image.status not in DONE_STATUSES:
            continue
        label = f"image {image.patient_id} ({image.path or image.key})"
        lesions = lesion_sources(state, image.key, iou_threshold)
        boxes: list[SrBox] = []
        for xywh, score, source in lesions:
            reason = box_problem(xywh)
            if reason is not None:
                lines.append(f"{label}: {reason}; left out")
                continue
            boxes.append(SrBox(xywh, score, source, f"box {len(boxes) + 1}"))
        if lesions and not boxes:
            lines.append(f"{label}: no box left to write; the image is left out")
            continue
        try:
            if not image.path:
                raise PneumoViewError(image.key, "the session has no file for this image")
            header = read_header(image.path)
            if str(header.get("SOPInstanceUID", "")) != image.sop_instance_uid:
                raise PneumoViewError(
                    image.path, "the file's SOPInstanceUID is not the reviewed image's"
                )
            frames = int(header.get("NumberOfFrames", 1) or 1)
            reader = SrAuthor(author.algorithm, author.version, image.reviewer or state.reviewer)
            write_sr(
                header,
                boxes,
                reader,
                out_dir,
                frame=image.frame if frames > 1 else None,
                path=image.path,
            )
            written += 1
        except PneumoViewError as err:
            lines.append(f"{label}: {err.reason}; left out")
    return written
