"""A review session -> one GSPS per reviewed image (``pneumoview export --format gsps``).

Exactly the boxes the ``labels`` CSV export holds (:func:`detector.review.export.lesion_boxes`,
with the same :func:`detector.rsna.csv_write.box_problem` filter), each as a closed POLYLINE with
its source and score as text (:mod:`detector.gsps.write`). The image's header is read from the
path the session recorded; an image whose file is gone, unreadable or holds another SOP
Instance UID is left out with one line naming it, and the others are still written. Each file
is written atomically: an interrupted export leaves no half-written state.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.uid import generate_uid

from detector.errors import PneumoViewError
from detector.files.output import atomic_write_bytes, check_output_dir, remove_stale_temp_files
from detector.gsps.write import BoxNote, boxes_to_gsps
from detector.imaging.read import DicomReadError, read_header
from detector.review.export import CONFIRM_IOU, final_boxes, lesion_boxes
from detector.review.records import DONE_STATUSES, ImageReview
from detector.review.state import ReviewState
from detector.rsna.csv_write import box_problem

_SOURCE_TEXT = {"ground_truth": "ground truth", "reviewer": "reader", "model": "model"}


class GspsExportError(PneumoViewError):
    """The output folder cannot be written; ``str(err)`` is ``"<folder>: <reason>"``."""


def box_text(
    state: ReviewState, image: str, xywh: tuple[float, float, float, float], score: float | None
) -> str:
    """The text shown with a box: its source and, for an accepted prediction, its score."""
    if score is not None:
        return f"model {score:.2f}"
    source = next((b.source for b in final_boxes(state, image) if b.xywh == xywh), "reviewer")
    return _SOURCE_TEXT.get(source, source)


def gsps_name(image: ImageReview) -> str:
    """The file name of an image's state: its SOP Instance UID (and frame), safe on any disk."""
    stem = image.sop_instance_uid or image.patient_id or image.key
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", stem)[:120]
    frame = f"_f{image.frame + 1}" if image.frame else ""
    return f"GSPS_{stem}{frame}.dcm"


def export_gsps(
    state: ReviewState,
    out_dir: str | os.PathLike[str],
    *,
    iou_threshold: float = CONFIRM_IOU,
    problems: list[str] | None = None,
) -> list[Path]:
    """Write one GSPS per reviewed image into ``out_dir``; returns the files written.

    Raises
    ------
    GspsExportError
        ``out_dir`` cannot be created or written (checked before anything is read).
    """
    from detector.files.output import OutputError

    try:
        folder = check_output_dir(out_dir)
    except OutputError as err:
        raise GspsExportError(err.path, err.reason) from None
    remove_stale_temp_files(folder)
    notes = [] if problems is None else problems
    series_uid = generate_uid()
    written: list[Path] = []
    for image in state.images.values():
        if image.status not in DONE_STATUSES:
            continue
        where = f"image {image.patient_id} ({image.path or image.key})"
        lesions = lesion_boxes(state, image.key, iou_threshold)
        kept = []
        for xywh, score in lesions:
            reason = box_problem(xywh)
            if reason is not None:
                notes.append(f"{where}: {reason}; left out")
            else:
                kept.append(BoxNote(xywh, box_text(state, image.key, xywh, score)))
        if lesions and not kept:
            notes.append(f"{where}: no box left to write; the image is left out")
            continue
        try:
            header = _image_header(image)
            ds = boxes_to_gsps(
                header,
                kept,
                frame=image.frame,
                series_uid=series_uid,
                instance_number=len(written) + 1,
            )
        except (DicomReadError, ValueError, TypeError, AttributeError) as exc:
            reason = exc.reason if isinstance(exc, PneumoViewError) else str(exc)
            notes.append(f"{where}: no GSPS written ({reason})")
            continue
        target = folder / gsps_name(image)
        try:
            atomic_write_bytes(target, _encode(ds))
        except OSError as exc:
            raise GspsExportError(target, f"cannot write ({exc.strerror or exc})") from None
        written.append(target)
    return written


def _image_header(image: ImageReview) -> Dataset:
    if not image.path:
        raise ValueError("the session recorded no file for it")
    header = read_header(image.path)
    uid = str(header.get("SOPInstanceUID", "") or "")
    if image.sop_instance_uid and uid != image.sop_instance_uid:
        raise ValueError(f"the file now holds another image (SOP Instance UID {uid or 'missing'})")
    return header


def _encode(ds: Dataset) -> bytes:
    buffer = DicomBytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
