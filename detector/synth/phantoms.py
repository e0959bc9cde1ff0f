"""Synthetic chest-radiograph phantoms: the project's own demo and test data.

:func:`synthesize` writes a folder of procedural frontal chest radiographs
(:func:`detector.synth.drawing.make_phantom`) as real DICOM files (CR, MONOCHROME2, 8-bit; a mix
of uncompressed and JPEG Baseline) together with an RSNA-format ``labels.csv``
(``patientId,x,y,width,height,Target``) and ``class_info.csv`` (``patientId,class``). Every file
says it is synthetic: the patient name is ``SYNTHETIC^PHANTOM^<n>`` and the series description
``SYNTHETIC PHANTOM - not a patient``. The boxes are in pixels of the written image.

Every image is drawn from ``numpy.random.default_rng([seed, index])``: the same seed gives the
same pixels, boxes and UIDs, and adding images does not change the earlier ones.
:func:`make_demo_study` is the idempotent entry point used by the viewer's demo.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.uid import generate_uid

from detector.files.output import atomic_open, atomic_write_text
from detector.imaging.dicom_write import compress_jpeg_baseline, new_image_dataset, save_dataset
from detector.rsna.csv_write import write_labels
from detector.synth.drawing import Box, Phantom, make_phantom

logger = logging.getLogger(__name__)

#: Bump when the pixels or files produced for a given seed change (invalidates demo studies).
SYNTH_VERSION = 1
MANIFEST_NAME = "synth.json"
LABELS_NAME = "labels.csv"
CLASS_INFO_NAME = "class_info.csv"
#: Pixel spacing (mm) of a 1024 px phantom, as in the RSNA images.
BASE_SPACING_MM = 0.143
SERIES_DESCRIPTION = "SYNTHETIC PHANTOM - not a patient"


@dataclass
class SynthSummary:
    """What :func:`synthesize` wrote.

    Attributes
    ----------
    out_dir : Path
    files : list of Path
        The DICOM files, in index order.
    patient_ids : list of str
        ``patientId`` of each file (= file stem = DICOM PatientID).
    boxes : dict
        patientId -> list of ``(x, y, width, height)`` in pixels (``[]`` for negatives).
    classes : dict
        patientId -> RSNA class name.
    labels_csv, class_info_csv, manifest : Path
    seconds : float
        Wall-clock time taken.
    """

    out_dir: Path
    files: list[Path] = field(default_factory=list)
    patient_ids: list[str] = field(default_factory=list)
    boxes: dict[str, list[Box]] = field(default_factory=dict)
    classes: dict[str, str] = field(default_factory=dict)
    labels_csv: Path = Path()
    class_info_csv: Path = Path()
    manifest: Path = Path()
    seconds: float = 0.0

    @property
    def count(self) -> int:
        return len(self.files)

    @property
    def positives(self) -> int:
        """Images with at least one box."""
        return sum(1 for b in self.boxes.values() if b)

    @property
    def box_count(self) -> int:
        return sum(len(b) for b in self.boxes.values())


# ---------------------------------------------------------------------------------------------
# Folders of phantoms


def patient_id_for(seed: int, index: int) -> str:
    """The patientId (and file stem) of image ``index`` of a set generated with ``seed``."""
    return f"phantom-s{seed}-{index:05d}"


def _exact_picks(rng: np.random.Generator, count: int, fraction: float) -> np.ndarray:
    """A boolean mask with ``round(count * fraction)`` seeded picks among ``count``."""
    picks = np.zeros(count, dtype=bool)
    n = int(round(count * min(max(fraction, 0.0), 1.0)))
    picks[rng.permutation(count)[:n]] = True
    return picks


def _dataset_for(phantom: Phantom, pid: str, index: int, seed: int, size: int) -> Any:
    rng = np.random.default_rng([seed, index, 1])
    study_date = _dt.date(2019, 1, 1) + _dt.timedelta(days=int(rng.integers(0, 5 * 365)))
    date = study_date.strftime("%Y%m%d")
    spacing = round(BASE_SPACING_MM * 1024 / size, 6)
    uid = f"{seed}:{index}:{SYNTH_VERSION}"
    ds = new_image_dataset(
        phantom.pixels,
        PatientID=pid,
        PatientName=f"SYNTHETIC^PHANTOM^{index:05d}",
        PatientSex=phantom.sex,
        PatientAge=f"{phantom.age:03d}Y",
        PatientBirthDate="",
        StudyDate=date,
        ContentDate=date,
        SeriesDate=date,
        StudyTime=f"{int(rng.integers(7, 19)):02d}{int(rng.integers(0, 60)):02d}00",
        StudyDescription="SYNTHETIC PHANTOM CHEST",
        SeriesDescription=SERIES_DESCRIPTION,
        BodyPartExamined="CHEST",
        ViewPosition=phantom.view,
        PatientOrientation=["L", "F"],
        PixelSpacing=[spacing, spacing],
        ConversionType="WSD",
        Manufacturer="PneumoView synthetic phantom generator",
        InstitutionName="SYNTHETIC",
        ImageComments="Procedural phantom, not a patient image. Not for clinical use.",
        StudyID=f"{index:05d}",
        AccessionNumber=f"SYN{index:07d}",
    )
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["study", uid])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["series", uid])
    ds.SOPInstanceUID = generate_uid(entropy_srcs=["instance", uid])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def synthesize(
    out_dir: str | os.PathLike[str],
    count: int,
    *,
    size: int = 1024,
    seed: int = 0,
    jpeg_fraction: float = 0.5,
    positive_fraction: float = 0.5,
    progress: Callable[[int, int], None] | None = None,
) -> SynthSummary:
    """Write ``count`` phantom DICOMs plus ``labels.csv``, ``class_info.csv`` and a manifest.

    Parameters
    ----------
    out_dir : path
        Created if needed. Files are named ``<patientId>.dcm``.
    count : int
        Number of images (>= 1).
    size : int
        Rows and columns of every image (>= 32). Pixel Spacing is ``0.143 * 1024 / size`` mm.
    seed : int
        Everything (pixels, boxes, classes, headers, UIDs) is a function of the seed.
    jpeg_fraction : float
        Share of files written as JPEG Baseline (the rest uncompressed).
    positive_fraction : float
        Share of images with lung opacities (Target=1).
    progress : callable, optional
        ``progress(done, total)`` after each file.

    Returns
    -------
    SynthSummary

    Raises
    ------
    ValueError
        ``count < 1``, ``size < 32`` or a fraction outside [0, 1].
    OSError
        The folder or a file cannot be written.
    """
    if int(count) < 1:
        raise ValueError(f"count must be >= 1, not {count}")
    if int(size) < 32:
        raise ValueError(f"size must be >= 32 pixels, not {size}")
    for name, value in (("jpeg_fraction", jpeg_fraction), ("positive_fraction", positive_fraction)):
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], not {value}")
    count, size, seed = int(count), int(size), int(seed)
    start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plan = np.random.default_rng([seed, 2**31])
    positive = _exact_picks(plan, count, positive_fraction)
    jpeg = _exact_picks(plan, count, jpeg_fraction)
    abnormal = plan.random(count) < 0.5

    summary = SynthSummary(out_dir=out)
    for index in range(count):
        pid = patient_id_for(seed, index)
        phantom = make_phantom(
            np.random.default_rng([seed, index]),
            size,
            positive=bool(positive[index]),
            abnormal=bool(abnormal[index]) and not positive[index],
        )
        ds = _dataset_for(phantom, pid, index, seed, size)
        if jpeg[index]:
            compress_jpeg_baseline(ds, quality=90)
        path = out / f"{pid}.dcm"
        tmp = out / f".{pid}.dcm.tmp"
        save_dataset(ds, tmp)
        os.replace(tmp, path)
        summary.files.append(path)
        summary.patient_ids.append(pid)
        summary.boxes[pid] = list(phantom.boxes)
        summary.classes[pid] = phantom.klass
        if progress is not None:
            progress(index + 1, count)

    summary.labels_csv = out / LABELS_NAME
    write_labels(
        summary.labels_csv,
        {pid: summary.boxes[pid] for pid in summary.patient_ids},
        with_score=False,
    )
    summary.class_info_csv = out / CLASS_INFO_NAME
    with atomic_open(summary.class_info_csv, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["patientId", "class"])
        for pid in summary.patient_ids:
            writer.writerow([pid, summary.classes[pid]])
    summary.seconds = time.perf_counter() - start
    summary.manifest = out / MANIFEST_NAME
    manifest = {
        "generator": "pneumoview synth",
        "version": SYNTH_VERSION,
        "count": count,
        "size": size,
        "seed": seed,
        "jpeg_fraction": float(jpeg_fraction),
        "positive_fraction": float(positive_fraction),
        "files": [p.name for p in summary.files],
        "positives": summary.positives,
        "boxes": summary.box_count,
    }
    # Written last: its presence means the whole set is complete.
    atomic_write_text(summary.manifest, json.dumps(manifest, indent=1) + "\n")
    logger.debug(
        "wrote %d phantom(s) (%d positive, %d boxes) to %s in %.1f s",
        count,
        summary.positives,
        summary.box_count,
        out,
        summary.seconds,
    )
    return summary


def _manifest_matches(folder: Path, expected: dict[str, Any]) -> bool:
    try:
        manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict):
        return False
    if any(manifest.get(k) != v for k, v in expected.items()):
        return False
    files = manifest.get("files")
    if not isinstance(files, list) or len(files) != expected["count"]:
        return False
    names = [*files, LABELS_NAME, CLASS_INFO_NAME]
    return all((folder / str(n)).is_file() for n in names)


def make_demo_study(
    out_dir: str | os.PathLike[str], *, count: int = 12, size: int = 512, seed: int = 2026
) -> Path:
    """Make sure ``out_dir`` holds the demo phantom set and return it.

    Does nothing when the folder's manifest already describes this exact set (same generator
    version, count, size and seed) and all its files are present; otherwise (re)writes it.

    Returns
    -------
    Path
        The folder, containing the DICOMs, ``labels.csv`` and ``class_info.csv``.
    """
    folder = Path(out_dir)
    expected = {
        "generator": "pneumoview synth",
        "version": SYNTH_VERSION,
        "count": int(count),
        "size": int(size),
        "seed": int(seed),
    }
    if _manifest_matches(folder, expected):
        return folder
    synthesize(folder, count, size=size, seed=seed)
    return folder
