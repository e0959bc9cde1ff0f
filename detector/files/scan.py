"""Folder scan: files -> Patient / Study / Series / Instance, plus the files that cannot be read.

Which files are tried is decided here, once, for ``convert``, ``detect`` and the viewer
(:func:`iter_files`): side files that are plainly not images by extension (``labels.csv``,
``synth.json``, README.md, archives, pickles...) and FIFOs / device files are skipped, never
opened, and reported as :class:`Skipped` (not as failures); so are symbolic links to folders,
which are not followed (a link loop never ends) but counted. Every other file is recognised by
content (DICM preamble or a parseable header, PNG/JPEG signature), so files without an extension
work. Headers only are read (``stop_before_pixels``), so a scan is cheap. :func:`iter_scan`
yields one :class:`ScanItem` per file so a GUI can show images as they are found and cancel
between files.
"""

from __future__ import annotations

import logging
import os
import stat
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset

from detector.imaging.dicom_info import header_text
from detector.imaging.plain import plain_format
from detector.imaging.read import (
    DicomReadError,
    non_image_kind,
    number_of_frames,
    read_header,
    special_file_kind,
)

logger = logging.getLogger(__name__)

#: Files skipped silently while walking folders (OS clutter, never DICOM).
_SKIP_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}

#: Extensions of files that are plainly not images: data folders hold labels, indexes, notes,
#: archives, models and scripts beside the images. Skipped without being opened. Files with any
#: other extension, or none, are recognised by content.
NOT_IMAGE_SUFFIXES = frozenset(
    """
    csv tsv json jsonl txt md rst log yaml yml toml ini cfg xml html htm pdf
    doc docx xls xlsx odt ods ppt pptx rtf
    zip gz tgz bz2 xz zst 7z tar rar
    pkl pickle npy npz pt pth ckpt onnx h5 hdf5 parquet feather db sqlite sqlite3
    py pyc ipynb sh bat ps1 js css
    md5 sha1 sha256 tmp part lock
    """.split()
)


#: The reason of a :class:`Skipped` link to a folder (counted in one summary line).
FOLDER_LINK_REASON = "symbolic link to a folder, not followed"


@dataclass(frozen=True)
class Skipped:
    """A file that was not tried as an image, and why.

    ``side_file`` is True for a side file skipped by extension (summarised as a count), False
    for a FIFO, device file or socket (each named with its reason).
    """

    path: str
    reason: str
    side_file: bool

    def __str__(self) -> str:
        return f"{self.path}: {self.reason} (skipped)"


def skip_reason(path: str) -> Skipped | None:
    """Why ``path`` is not tried as an image (``None``: try it). Never opens the file."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # missing or unreadable: the reader reports it with the reason
    if not stat.S_ISDIR(mode):
        kind = special_file_kind(mode)
        if kind is not None:
            return Skipped(path, kind, side_file=False)
    suffix = Path(path).suffix.lower()
    if suffix[1:] in NOT_IMAGE_SUFFIXES:
        return Skipped(path, f"not an image ({suffix} file)", side_file=True)
    return None


def skipped_lines(skipped: Sequence[Skipped]) -> list[str]:
    """Lines for a command's report: one per special file, one count for all side files and
    one for all links to folders."""
    lines = [str(s) for s in skipped if not s.side_file and s.reason != FOLDER_LINK_REASON]
    side = [s for s in skipped if s.side_file]
    links = [s for s in skipped if s.reason == FOLDER_LINK_REASON]
    if links:
        lines.append(
            f"skipped {len(links)} symbolic link(s) to folders, not followed "
            f"(first: {links[0].path}); give the folder itself to include it"
        )
    if side:
        counts = Counter(Path(s.path).suffix.lower() for s in side)
        kinds = ", ".join(f"{n} {ext}" for ext, n in sorted(counts.items()))
        lines.append(f"skipped {len(side)} file(s) that are not images ({kinds})")
    return lines


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
    #: False for a plain PNG/JPEG file (stand-in header: no UIDs, no pixel spacing).
    is_dicom: bool = True

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
    """Result for one file: an :class:`Instance`, a :class:`Problem`, a :class:`Skipped` file
    (not tried) or a DICOMDIR (used, not shown)."""

    path: str
    instance: Instance | None = None
    problem: Problem | None = None
    dicomdir: bool = False
    skipped: Skipped | None = None


@dataclass
class ScanResult:
    patients: dict[str, Patient] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    dicomdirs: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    cancelled: bool = False

    def add(self, item: ScanItem) -> None:
        if item.problem is not None:
            self.problems.append(item.problem)
        elif item.skipped is not None:
            self.skipped.append(item.skipped)
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


def instance_from_header(path: str, ds: Dataset) -> Instance:
    kind = non_image_kind(ds)
    return Instance(
        path=path,
        sop_instance_uid=header_text(ds, "SOPInstanceUID") or path,
        instance_number=_to_int(ds.get("InstanceNumber")),
        n_frames=number_of_frames(ds),
        rows=_to_int(ds.get("Rows")) or 0,
        columns=_to_int(ds.get("Columns")) or 0,
        header=ds,
        is_image=kind is None,
        kind=kind or "image",
        is_dicom=plain_format(ds) is None,
    )


def group_keys(ds: Dataset) -> tuple[str, str, str]:
    """``(patient, study, series)`` keys of a header; a missing UID gets a key of its parent's."""
    pid = header_text(ds, "PatientID") or "(no Patient ID)"
    study_uid = header_text(ds, "StudyInstanceUID") or f"{pid}/(no study UID)"
    series_uid = header_text(ds, "SeriesInstanceUID") or f"{study_uid}/(no series UID)"
    return pid, study_uid, series_uid


def add_instance(patients: dict[str, Patient], inst: Instance) -> None:
    ds = inst.header
    pid, study_uid, series_uid = group_keys(ds)
    patient = patients.get(pid)
    if patient is None:
        patient = patients[pid] = Patient(pid, header_text(ds, "PatientName"))
    study = patient.studies.get(study_uid)
    if study is None:
        study = patient.studies[study_uid] = Study(
            study_uid, header_text(ds, "StudyDate"), header_text(ds, "StudyDescription")
        )
    series = study.series.get(series_uid)
    if series is None:
        series = study.series[series_uid] = Series(
            series_uid,
            _to_int(ds.get("SeriesNumber")),
            header_text(ds, "Modality"),
            header_text(ds, "SeriesDescription"),
        )
    series.instances.append(inst)


def _walk(
    paths: Iterable[str | os.PathLike[str]], links: list[Skipped] | None = None
) -> Iterator[str]:
    for raw in paths:
        path = str(raw)
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                # os.walk does not follow links to folders (a link loop would never end, and a
                # link can lead out of the study); they are counted instead of vanishing.
                for name in dirs:
                    full = os.path.join(root, name)
                    if links is not None and os.path.islink(full):
                        links.append(Skipped(full, FOLDER_LINK_REASON, side_file=False))
                for name in sorted(files):
                    if name.startswith(".") or name in _SKIP_NAMES:
                        continue
                    yield os.path.join(root, name)
        else:
            yield path


def iter_files(
    paths: Iterable[str | os.PathLike[str]], skipped: list[Skipped] | None = None
) -> Iterator[str]:
    """The files under ``paths`` to try as images (folders recursively, sorted).

    Hidden files and OS clutter are left out silently; side files and special files (see
    :func:`skip_reason`) are left out and appended to ``skipped`` when a list is given. Paths
    that do not exist are yielded, so that the reader reports them.
    """
    links: list[Skipped] = []
    for path in _walk(paths, links):
        reason = skip_reason(path)
        if reason is None:
            yield path
        elif skipped is not None:
            skipped.append(reason)
    if skipped is not None:
        skipped.extend(links)


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

    Skipped files (side files, FIFOs...) come first, as items with ``skipped`` set. A DICOMDIR is used, not shown: the files it references are scanned (once), the DICOMDIR
    itself is reported with ``dicomdir=True``.
    """
    seen: set[str] = set()
    skipped: list[Skipped] = []
    pending = list(iter_files(paths, skipped))
    for skip in skipped:
        yield ScanItem(skip.path, skipped=skip)
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
