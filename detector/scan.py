"""Folder scan: files -> Patient / Study / Series / Instance, plus the files that cannot be read.

Files are recognised by content (DICM preamble or a parseable header), never by extension.
Headers only are read (``stop_before_pixels``), so a scan is cheap. :func:`iter_scan` yields one
:class:`ScanItem` per file so a GUI can show images as they are found and cancel between files.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset

from detector.imaging import DicomReadError, non_image_kind, number_of_frames, read_header

logger = logging.getLogger(__name__)

#: Files skipped silently while walking folders (OS clutter, never DICOM).
_SKIP_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}


@dataclass
class Instance:
    path: str
    sop_instance_uid: str
    instance_number: int | None
    n_frames: int
    rows: int
    columns: int
    header: Dataset = field(repr=False)
    is_image: bool = True
    kind: str = "image"  # "image" or the non-image kind (structured report, ...)

    @property
    def name(self) -> str:
        return Path(self.path).name


@dataclass
class Series:
    uid: str
    number: int | None
    modality: str
    description: str
    instances: list[Instance] = field(default_factory=list)

    def sort(self) -> None:
        self.instances.sort(
            key=lambda i: (i.instance_number is None, i.instance_number or 0, i.name)
        )


@dataclass
class Study:
    uid: str
    date: str
    description: str
    series: dict[str, Series] = field(default_factory=dict)

    def sorted_series(self) -> list[Series]:
        return sorted(
            self.series.values(), key=lambda s: (s.number is None, s.number or 0, s.description)
        )


@dataclass
class Patient:
    patient_id: str
    name: str
    studies: dict[str, Study] = field(default_factory=dict)

    def sorted_studies(self) -> list[Study]:
        return sorted(self.studies.values(), key=lambda s: (s.date, s.uid))


@dataclass
class Problem:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class ScanItem:
    """Result for one file: an :class:`Instance` or a :class:`Problem` (or a skipped DICOMDIR)."""

    path: str
    instance: Instance | None = None
    problem: Problem | None = None
    dicomdir: bool = False


@dataclass
class ScanResult:
    patients: dict[str, Patient] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    dicomdirs: list[str] = field(default_factory=list)
    cancelled: bool = False

    def add(self, item: ScanItem) -> None:
        if item.problem is not None:
            self.problems.append(item.problem)
        elif item.dicomdir:
            self.dicomdirs.append(item.path)
        elif item.instance is not None:
            add_instance(self.patients, item.instance)

    def sorted_patients(self) -> list[Patient]:
        return sorted(self.patients.values(), key=lambda p: (p.name, p.patient_id))

    def instances(self, *, images_only: bool = True) -> list[Instance]:
        """All instances in display order (patient, study, series, instance number)."""
        out: list[Instance] = []
        for patient in self.sorted_patients():
            for study in patient.sorted_studies():
                for series in study.sorted_series():
                    series.sort()
                    out.extend(i for i in series.instances if i.is_image or not images_only)
        return out


def _to_int(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _text(ds: Dataset, keyword: str, default: str = "") -> str:
    try:
        value = ds.get(keyword, default)
    except Exception:  # noqa: BLE001 - a damaged value must not stop the scan
        return default
    return str(value if value is not None else default).strip()


def instance_from_header(path: str, ds: Dataset) -> Instance:
    kind = non_image_kind(ds)
    return Instance(
        path=path,
        sop_instance_uid=_text(ds, "SOPInstanceUID") or path,
        instance_number=_to_int(ds.get("InstanceNumber")),
        n_frames=number_of_frames(ds),
        rows=_to_int(ds.get("Rows")) or 0,
        columns=_to_int(ds.get("Columns")) or 0,
        header=ds,
        is_image=kind is None,
        kind=kind or "image",
    )


def add_instance(patients: dict[str, Patient], inst: Instance) -> None:
    ds = inst.header
    pid = _text(ds, "PatientID") or "(no Patient ID)"
    patient = patients.get(pid)
    if patient is None:
        patient = patients[pid] = Patient(pid, _text(ds, "PatientName"))
    study_uid = _text(ds, "StudyInstanceUID") or f"{pid}/(no study UID)"
    study = patient.studies.get(study_uid)
    if study is None:
        study = patient.studies[study_uid] = Study(
            study_uid, _text(ds, "StudyDate"), _text(ds, "StudyDescription")
        )
    series_uid = _text(ds, "SeriesInstanceUID") or f"{study_uid}/(no series UID)"
    series = study.series.get(series_uid)
    if series is None:
        series = study.series[series_uid] = Series(
            series_uid,
            _to_int(ds.get("SeriesNumber")),
            _text(ds, "Modality"),
            _text(ds, "SeriesDescription"),
        )
    series.instances.append(inst)


def iter_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[str]:
    """Every file under ``paths`` (folders recursively, sorted, hidden files skipped)."""
    for raw in paths:
        path = str(raw)
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.startswith(".") or name in _SKIP_NAMES:
                        continue
                    yield os.path.join(root, name)
        else:
            yield path


def scan_file(path: str) -> ScanItem:
    """Read one file's header; never raises for bad input."""
    try:
        ds = read_header(path)
    except DicomReadError as err:
        return ScanItem(path, problem=Problem(path, err.reason))
    inst = instance_from_header(path, ds)
    if inst.kind == "DICOMDIR":
        return ScanItem(path, dicomdir=True)
    return ScanItem(path, instance=inst)


def dicomdir_files(path: str) -> list[str]:
    """Files referenced by a DICOMDIR (empty if it cannot be read)."""
    try:
        from pydicom.fileset import FileSet

        fs = FileSet(path)
        return [str(inst.path) for inst in fs]
    except Exception as exc:  # noqa: BLE001 - a bad DICOMDIR falls back to the folder walk
        logger.warning("%s: DICOMDIR not usable (%s)", path, exc)
        return []


def iter_scan(
    paths: Sequence[str | os.PathLike[str]],
    *,
    cancelled: Callable[[], bool] | None = None,
) -> Iterator[ScanItem]:
    """Yield a :class:`ScanItem` for every file found; stops early when ``cancelled()``.

    A DICOMDIR is used, not shown: the files it references are scanned (once), the DICOMDIR
    itself is reported with ``dicomdir=True``.
    """
    seen: set[str] = set()
    pending = list(iter_files(paths))
    i = 0
    while i < len(pending):
        if cancelled is not None and cancelled():
            return
        path = pending[i]
        i += 1
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        item = scan_file(path)
        if item.dicomdir:
            pending.extend(p for p in dicomdir_files(path) if os.path.realpath(p) not in seen)
        yield item


def scan(
    paths: Sequence[str | os.PathLike[str]],
    *,
    progress: Callable[[int, ScanItem], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> ScanResult:
    """Scan files and folders into a :class:`ScanResult` (see :func:`iter_scan`)."""
    result = ScanResult()
    n = 0
    for item in iter_scan(paths, cancelled=cancelled):
        result.add(item)
        n += 1
        if progress is not None:
            progress(n, item)
    if cancelled is not None and cancelled():
        result.cancelled = True
    return result
