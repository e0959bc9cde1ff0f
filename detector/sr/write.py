"""Write findings as one TID 1500 Comprehensive 3D SR per image (highdicom).

Each box is one planar-ROI measurement group (TID 1410): a closed POLYLINE of five points in the
image's pixel coordinates (x, y: the corner at the top left, then clockwise, back to the
start), the finding type and site of :mod:`detector.sr.codes`, a tracking identifier and UID, a
"Certainty of Finding" measurement (the score, unit ``1``) when the box has one, the algorithm's
name and version on a model box, and the box's source (model / reader / ground truth). The
observation context names the device (PneumoView and the model) and, for a reviewed image, the
reader as person observer. An image without boxes gets a report with one image-level group
whose finding is "No abnormality", so "looked, found nothing" differs from "never looked".

The SR joins the image's study (patient, study and its UIDs copied from the image, as highdicom
requires) in a series of its own.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from detector.errors import PneumoViewError
from detector.files.output import atomic_write_bytes
from detector.imaging.dicom_write import PATIENT_STUDY_COPIED
from detector.sr import codes

# highdicom narrates each attribute it copies at INFO ("copy attributes of module ..."): eight
# lines per SR on the command line's INFO log. Its warnings still come through.
logging.getLogger("highdicom").setLevel(logging.WARNING)

MANUFACTURER = "PneumoView"
SERIES_DESCRIPTION = "PneumoView findings"


class SrWriteError(PneumoViewError):
    """An SR cannot be made for an image (no DICOM header, a missing UID) or written."""


@dataclass(frozen=True)
class SrBox:
    """One box to write.

    Attributes
    ----------
    xywh : tuple of 4 float
        ``(x, y, width, height)`` in pixels of the image (RSNA convention).
    score : float or None
        Confidence in [0, 1]; None for a ground-truth or drawn box.
    source : str
        ``"model"``, ``"reviewer"`` or ``"ground_truth"`` (keys of :data:`codes.SOURCES`).
    tracking_id : str
        Human-readable tracking identifier (unique within the report).
    """

    xywh: tuple[float, float, float, float]
    score: float | None = None
    source: str = "model"
    tracking_id: str = ""


@dataclass(frozen=True)
class SrAuthor:
    """Who made the findings: the algorithm and, for a review, the reader.

    Attributes
    ----------
    algorithm : str
        Algorithm (model) name, e.g. the checkpoint file name.
    version : str
        Algorithm version, e.g. the checkpoint's sha256 prefix.
    reader : str
        The reader's name (person observer); empty when no person reviewed the image.
    """

    algorithm: str = "PneumoView detector"
    version: str = "unknown"
    reader: str = ""


def person_name(name: str) -> str:
    """A reader's name as a valid DICOM PN (PS3.5 6.2.1.2).

    ``\\`` and ``=`` (value and group delimiters) become spaces, at most five components of at
    most 64 characters are kept, and a login name (no ``^``) gets a trailing ``^`` so that it
    reads as one family-name component, as highdicom asks.
    """
    clean = " ".join(name.replace("\\", " ").replace("=", " ").split())
    parts = [part.strip()[:64] for part in clean.split("^")[:5]]
    text = "^".join(parts).rstrip("^")
    return text if "^" in text else f"{text}^"


def _polyline(xywh: Sequence[float]) -> np.ndarray:
    x, y, w, h = (float(v) for v in xywh)
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h], [x, y]], dtype=np.float32)


def _box_problem(box: SrBox) -> str | None:
    values = [*box.xywh] + ([] if box.score is None else [box.score])
    if not all(math.isfinite(v) for v in values):
        return "a box value is not finite"
    if box.xywh[2] <= 0 or box.xywh[3] <= 0:
        return "a box has no area"
    if box.source not in codes.SOURCES:
        return f"unknown box source {box.source!r}"
    return None


#: Copied from the image into the SR and required there (its references); the patient and study
#: attributes of PATIENT_STUDY_COPIED follow, written empty where the image has none.
_REQUIRED = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")


def _evidence(image: Dataset, path: str) -> Dataset:
    """The part of the image's header the SR copies (Type 2 attributes present, maybe empty)."""
    out = Dataset()
    for keyword in _REQUIRED:
        value = str(image.get(keyword, "") or "").strip()
        if not value:
            raise SrWriteError(path, f"no {keyword} in the DICOM header; cannot reference it")
        setattr(out, keyword, value)
    for keyword in PATIENT_STUDY_COPIED:
        setattr(out, keyword, image.get(keyword, None) or None)
    # pydicom has decoded the image's text; the SR writes it (and the reader's and model's
    # names, which may be in any script) as UTF-8.
    out.SpecificCharacterSet = "ISO_IR 192"
    return out


def _source_image(image: Dataset, frame: int | None) -> hd.sr.SourceImageForRegion:
    return hd.sr.SourceImageForRegion(
        referenced_sop_class_uid=image.SOPClassUID,
        referenced_sop_instance_uid=image.SOPInstanceUID,
        referenced_frame_numbers=None if frame is None else [frame + 1],
    )


def _group(
    image: Dataset,
    box: SrBox,
    index: int,
    algorithm: hd.sr.AlgorithmIdentification,
    frame: int | None,
) -> hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations:
    source_image = _source_image(image, frame)
    region = hd.sr.ImageRegion(
        graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
        graphic_data=_polyline(box.xywh),
        source_image=source_image,
    )
    measurements = []
    if box.score is not None:
        measurements.append(
            hd.sr.Measurement(
                name=codes.CONFIDENCE, value=float(box.score), unit=codes.CONFIDENCE_UNIT
            )
        )
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=generate_uid(), identifier=box.tracking_id or f"box {index + 1}"
        ),
        referenced_region=region,
        finding_type=codes.FINDING_TYPE,
        finding_sites=[hd.sr.FindingSite(anatomic_location=codes.FINDING_SITE)],
        algorithm_id=algorithm if box.source == "model" else None,
        measurements=measurements or None,
        qualitative_evaluations=[
            hd.sr.QualitativeEvaluation(name=codes.BOX_SOURCE, value=codes.SOURCES[box.source])
        ],
    )


def _no_findings_group(
    image: Dataset, algorithm: hd.sr.AlgorithmIdentification, frame: int | None
) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier="no findings"),
        source_images=[
            hd.sr.SourceImageForMeasurementGroup(
                referenced_sop_class_uid=image.SOPClassUID,
                referenced_sop_instance_uid=image.SOPInstanceUID,
                referenced_frame_numbers=None if frame is None else [frame + 1],
            )
        ],
        algorithm_id=algorithm,
        qualitative_evaluations=[
            hd.sr.QualitativeEvaluation(name=codes.FINDING, value=codes.NO_FINDINGS)
        ],
    )


def build_sr(
    image: Dataset,
    boxes: Sequence[SrBox],
    author: SrAuthor,
    *,
    frame: int | None = None,
    path: str = "",
) -> hd.sr.Comprehensive3DSR:
    """The TID 1500 report of one image's boxes (see the module docstring).

    Parameters
    ----------
    image : pydicom.Dataset
        The source image's header (pixel data not needed).
    boxes : sequence of SrBox
        Its boxes; empty for a "no findings" report.
    author : SrAuthor
        Algorithm name and version; the reader's name for a reviewed image.
    frame : int or None
        0-based frame of a multi-frame image the boxes are on (referenced as frame + 1);
        None for a single-frame image.
    path : str
        The image's file, for error messages.

    Raises
    ------
    SrWriteError
        The header lacks what a reference needs, or a box is not finite or has no area.
    """
    evidence = _evidence(image, path)
    for box in boxes:
        problem = _box_problem(box)
        if problem is not None:
            raise SrWriteError(path, problem)
    algorithm = hd.sr.AlgorithmIdentification(
        name=author.algorithm or "PneumoView detector", version=author.version or "unknown"
    )
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=generate_uid(), name=MANUFACTURER, model_name=author.algorithm or None
    )
    person = (
        hd.sr.ObserverContext(
            observer_type=codes.codes.DCM.Person,
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
                name=person_name(author.reader)
            ),
        )
        if author.reader
        else None
    )
    context = hd.sr.ObservationContext(
        observer_person_context=person,
        observer_device_context=hd.sr.ObserverContext(
            observer_type=codes.codes.DCM.Device, observer_identifying_attributes=device
        ),
    )
    groups: list[Any] = [_group(evidence, b, i, algorithm, frame) for i, b in enumerate(boxes)]
    if not groups:
        groups = [_no_findings_group(evidence, algorithm, frame)]
    report = hd.sr.MeasurementReport(
        observation_context=context,
        procedure_reported=codes.PROCEDURE,
        imaging_measurements=groups,
    )
    with warnings.catch_warnings():
        # The SR copies the image's Patient's Name; RSNA-style files hold an id there, which
        # highdicom flags once per file. That is the source's naming, not a fault of the SR.
        warnings.filterwarnings(
            "ignore",
            message=".*unlikely to represent the intended person name",
            category=UserWarning,
        )
        return _document(evidence, report, final=bool(author.reader))


def _document(evidence: Any, report: Any, *, final: bool) -> Any:
    return hd.sr.Comprehensive3DSR(
        evidence=[evidence],
        content=report,
        series_instance_uid=generate_uid(),
        series_number=990,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        series_description=SERIES_DESCRIPTION,
        is_complete=True,
        is_final=final,
        is_verified=False,
    )


def sr_file_name(image: Dataset) -> str:
    """``<SOPInstanceUID of the image>.sr.dcm``: one SR per image, found again by name."""
    return f"{image.SOPInstanceUID}.sr.dcm"


def write_sr(
    image: Dataset,
    boxes: Sequence[SrBox],
    author: SrAuthor,
    out_dir: str | os.PathLike[str],
    *,
    frame: int | None = None,
    path: str = "",
) -> Path:
    """Build the report (:func:`build_sr`) and write it atomically into ``out_dir``.

    Returns
    -------
    Path
        ``out_dir / sr_file_name(image)``.
    """
    import io

    try:
        sr = build_sr(image, boxes, author, frame=frame, path=path)
    except (ValueError, TypeError) as exc:
        # highdicom's refusal of a value copied from an untrusted header: one line.
        raise SrWriteError(path, f"cannot build the SR ({' '.join(str(exc).split())})") from None
    target = Path(out_dir) / sr_file_name(image)
    buffer = io.BytesIO()
    sr.save_as(buffer, enforce_file_format=True)
    try:
        atomic_write_bytes(target, buffer.getvalue())
    except OSError as exc:
        raise SrWriteError(target, f"cannot write ({exc.strerror or exc})") from None
    return target
