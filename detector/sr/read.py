"""Read boxes back from a TID 1500 SR (``highdicom.sr.srread``). Every SR file is untrusted.

:func:`read_sr` returns one :class:`SrFinding` per planar-ROI measurement group whose region is
a POLYLINE in image pixels (2D SCOORD), as the bounding box of its points,
with its confidence ("Certainty of Finding"), its source (PneumoView's private code, else
``"unknown"``) and the SOPInstanceUID it references. Any file that is not such an SR, or whose
content cannot be used (truncated, another IOD, a region of fewer than four points, a
coordinate that is not finite), raises :class:`SrReadError`: one line, never a traceback.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detector.errors import PneumoViewError
from detector.sr import codes

#: Every SR storage SOP class lives under this root (PS3.4 B.5: 1.2.840.10008.5.1.4.1.1.88.x).
SR_CLASS_ROOT = "1.2.840.10008.5.1.4.1.1.88."
#: An SR of boxes is kilobytes; a bigger file is refused before parsing.
MAX_SR_BYTES = 64 * 1024 * 1024


class SrReadError(PneumoViewError):
    """An SR file that cannot be read as findings; ``str(err)`` is ``"<file>: <reason>"``."""


@dataclass(frozen=True)
class SrFinding:
    """One box read from an SR.

    Attributes
    ----------
    xywh : tuple of 4 float
        ``(x, y, width, height)`` in pixels of the referenced image.
    score : float or None
        The "Certainty of Finding" measurement, if any.
    source : str
        ``"model"``, ``"reviewer"``, ``"ground_truth"`` or ``"unknown"`` (another writer).
    sop_instance_uid : str
        The image the region is on.
    frame : int or None
        0-based frame when the region names one.
    tracking_uid : str
        The box's tracking UID ("" when absent).
    """

    xywh: tuple[float, float, float, float]
    score: float | None
    source: str
    sop_instance_uid: str
    frame: int | None = None
    tracking_uid: str = ""


@dataclass
class SrReport:
    """What an SR says: its findings and whose they are.

    Attributes
    ----------
    path : str
        The file.
    sop_instance_uid : str
        The SR's own SOPInstanceUID.
    findings : list of SrFinding
        Boxes, in document order.
    referenced : set of str
        SOPInstanceUIDs of the images the report is about (boxes and "no findings" groups).
    reader : str
        The person observer's name ("" when none).
    """

    path: str
    sop_instance_uid: str
    findings: list[SrFinding] = field(default_factory=list)
    referenced: set[str] = field(default_factory=set)
    reader: str = ""

    def findings_for(self, sop_instance_uid: str) -> list[SrFinding]:
        """The boxes on one image."""
        return [f for f in self.findings if f.sop_instance_uid == sop_instance_uid]


def is_sr_dataset(ds: Any) -> bool:
    """Whether a header is a Structured Report (by SOP class, else Modality SR)."""
    sop_class = str(ds.get("SOPClassUID", "") or "")
    return sop_class.startswith(SR_CLASS_ROOT) or str(ds.get("Modality", "")) == "SR"


def is_sr_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a DICOM Structured Report (reads the header only; never raises)."""
    import pydicom

    try:
        ds = pydicom.dcmread(
            path, stop_before_pixels=True, specific_tags=["SOPClassUID", "Modality"]
        )
    except Exception:  # noqa: BLE001 -- a sniff: anything unreadable is "not an SR"
        return False
    return is_sr_dataset(ds)


def read_sr(path: str | os.PathLike[str]) -> SrReport:
    """The findings of one SR file (see the module docstring).

    Raises
    ------
    SrReadError
        Not a readable SR of planar regions, with the reason in one line.
    """
    text = str(os.fspath(path))
    try:
        size = Path(text).stat().st_size
    except OSError as exc:
        raise SrReadError(text, f"cannot read ({exc.strerror or exc})") from None
    if not Path(text).is_file():
        raise SrReadError(text, "not a regular file")
    if size > MAX_SR_BYTES:
        raise SrReadError(text, f"{size} bytes is too large for an SR of findings")
    sr = _parse(text)
    try:
        return _report(text, sr)
    except SrReadError:
        raise
    except Exception as exc:  # noqa: BLE001 -- untrusted content: any failure is one line
        raise SrReadError(text, f"unusable SR content ({_plain(exc)})") from None


def _plain(exc: BaseException) -> str:
    words = " ".join(str(exc).split())
    return (words[:160] + "...") if len(words) > 160 else (words or type(exc).__name__)


def _parse(path: str) -> Any:
    import highdicom as hd
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError:
        raise SrReadError(path, "not a DICOM file") from None
    except Exception as exc:  # noqa: BLE001 -- truncated or corrupt: one line
        raise SrReadError(path, f"cannot read the DICOM file ({_plain(exc)})") from None
    if not is_sr_dataset(ds):
        sop_class = str(ds.get("SOPClassUID", "") or "none")
        raise SrReadError(path, f"not a Structured Report (SOP class {sop_class})")
    try:
        return hd.sr.srread(path)
    except Exception as exc:  # noqa: BLE001 -- highdicom's refusal, in one line
        raise SrReadError(path, f"not a readable TID 1500 SR ({_plain(exc)})") from None


def _report(path: str, sr: Any) -> SrReport:
    import highdicom as hd

    report = SrReport(path=path, sop_instance_uid=str(sr.SOPInstanceUID))
    content = sr.content
    if not isinstance(content, hd.sr.MeasurementReport):
        raise SrReadError(path, "not a TID 1500 Measurement Report")
    people = content.get_observer_contexts(observer_type=codes.codes.DCM.Person)
    for context in people:
        name = context.observer_identifying_attributes.name
        report.reader = str(name).rstrip("^") if name else ""
        break
    for number, group in enumerate(content.get_planar_roi_measurement_groups(), start=1):
        finding = _finding(path, group, number)
        if finding is not None:
            report.findings.append(finding)
            report.referenced.add(finding.sop_instance_uid)
    for image_group in content.get_image_measurement_groups():
        for source in image_group.source_images:
            report.referenced.add(str(source.referenced_sop_instance_uid))
    return report


def _finding(path: str, group: Any, number: int) -> SrFinding | None:
    import highdicom as hd
    import numpy as np

    roi = group.roi
    if roi is None or not isinstance(roi, hd.sr.ImageRegion):
        return None  # a segmentation or 3D region: not a box on an image
    kind = roi.graphic_type
    if kind != hd.sr.GraphicTypeValues.POLYLINE:
        return None  # points, circles, ellipses: not a box
    points = np.asarray(roi.value, dtype=np.float64).reshape(-1, 2)
    if not np.all(np.isfinite(points)):
        raise SrReadError(path, f"box {number}: a coordinate is not finite")
    closed = len(points) >= 2 and bool(np.all(points[0] == points[-1]))
    distinct = len(points) - (1 if closed else 0)
    if distinct < 4:
        raise SrReadError(
            path, f"box {number}: a region of {len(points)} point(s) is not a box (needs 4 corners)"
        )
    x1, y1 = points.min(axis=0)
    x2, y2 = points.max(axis=0)
    if not (x2 > x1 and y2 > y1):
        raise SrReadError(path, f"box {number}: the region has no area")
    uid, frame = _referenced(path, roi, number)
    return SrFinding(
        xywh=(float(x1), float(y1), float(x2 - x1), float(y2 - y1)),
        score=_score(path, group, number),
        source=_source(group),
        sop_instance_uid=uid,
        frame=frame,
        tracking_uid=str(group.tracking_uid or ""),
    )


def _referenced(path: str, roi: Any, number: int) -> tuple[str, int | None]:
    for item in getattr(roi, "ContentSequence", []):
        refs = item.get("ReferencedSOPSequence")
        if refs:
            uid = str(refs[0].get("ReferencedSOPInstanceUID", "") or "")
            frames = refs[0].get("ReferencedFrameNumber")
            if uid:
                first = frames[0] if isinstance(frames, Sequence) else frames
                frame = int(first) - 1 if first is not None and int(first) >= 1 else None
                return uid, frame
    raise SrReadError(path, f"box {number}: the region references no image")


def _score(path: str, group: Any, number: int) -> float | None:
    for measurement in group.get_measurements(name=codes.CONFIDENCE):
        value = float(measurement.value)
        if not math.isfinite(value):
            raise SrReadError(path, f"box {number}: the confidence is not finite")
        if measurement.unit is not None and measurement.unit.value == "%":
            value /= 100.0
        return value
    return None


def _source(group: Any) -> str:
    for evaluation in group.get_qualitative_evaluations(name=codes.BOX_SOURCE):
        return codes.SOURCE_BY_VALUE.get(str(evaluation.value.value), "unknown")
    return "unknown"
