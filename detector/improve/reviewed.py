"""The reviewed images of a session as training data: exactly what ``export --format labels`` holds.

:func:`reviewed_data` writes the session's labels export (:func:`detector.review.export.export_review`:
every reviewed image and its final boxes) into a work folder, links each reviewed image there as
``<patientId><suffix>`` (a copy where links are not allowed), and reads both back with the
training code's checks (:func:`detector.training.records.load_records`), so a missing file or a
box outside its image is skipped with a reason, exactly as ``train`` would.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from detector.files.image_files import DICOM_SUFFIXES, PNG_SUFFIXES
from detector.review.export import export_review
from detector.review.records import DONE_STATUSES
from detector.review.state import ReviewState
from detector.training.records import DataReport, ImageRecord, load_records


@dataclass
class ReviewedData:
    """The usable reviewed images and what was left out.

    Attributes
    ----------
    records : list of ImageRecord
        One per usable reviewed image (``image_id`` is its patientId, ``path`` the link in
        the work folder, ``group`` the DICOM PatientID).
    sources : dict
        ``image_id -> the image's own file`` (for the lineage record).
    report : DataReport
        Rows, images and boxes the training checks skipped.
    problems : list of str
        Other images left out, one line each.
    images_dir, labels : Path
        The work folder's image links and labels export.
    """

    records: list[ImageRecord]
    sources: dict[str, str]
    report: DataReport
    problems: list[str] = field(default_factory=list)
    images_dir: Path = Path()
    labels: Path = Path()


def _link(source: str, target: Path) -> None:
    try:
        os.symlink(os.path.abspath(source), target)
    except OSError:  # no symlinks here (Windows without the right): a copy does the same
        shutil.copyfile(source, target)


def reviewed_data(state: ReviewState, workdir: str | os.PathLike[str]) -> ReviewedData:
    """Export the session's reviewed images and boxes into ``workdir`` and read them back.

    Images the trainer cannot tell apart are left out with a reason: frames after the first of
    a multi-frame file, and two reviewed files with the same patientId.
    """
    work = Path(workdir)
    images_dir = work / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    labels = work / "reviewed_labels.csv"
    problems: list[str] = []
    export_review(state, labels, "labels", problems=problems)
    done = [im for im in state.images.values() if im.status in DONE_STATUSES]
    counts = Counter(im.patient_id for im in done)
    sources: dict[str, str] = {}
    for image in done:
        name = image.path or image.key
        if image.frame:
            problems.append(f"{name}: frame {image.frame + 1} of a multi-frame file; left out")
            continue
        if counts[image.patient_id] > 1:
            problems.append(
                f"{name}: {counts[image.patient_id]} reviewed files are named "
                f"{image.patient_id!r}; left out (training tells images apart by name)"
            )
            continue
        if not image.path or not os.path.isfile(image.path):
            problems.append(f"{name}: the file is gone; left out")
            continue
        suffix = Path(image.path).suffix.lower()
        if suffix not in DICOM_SUFFIXES + PNG_SUFFIXES:
            suffix = ".dcm"  # a DICOM named by its UID, or .ima
        _link(image.path, images_dir / f"{image.patient_id}{suffix}")
        sources[image.patient_id] = image.path
    records, report = load_records(images_dir, labels, workers=4)
    records = [r for r in records if r.image_id in sources]
    return ReviewedData(records, sources, report, problems, images_dir, labels)
