"""Training data: RSNA labels + an image folder -> checked records -> a torch ``Dataset``.

:func:`load_records` joins a labels CSV (``patientId,x,y,width,height,Target``; the RSNA file, a
``pneumoview synth`` set or the viewer's export) with the images of a folder (DICOM files named
``<patientId>.dcm``, or PNGs named ``<patientId>.png`` written by ``pneumoview convert`` at the
labels' pixel scale). Bad data never reaches training and is always reported as
``"<file>:<line>: <reason>"`` or ``"<file>: <reason>"``:

* rows :func:`detector.labels.read_labels` rejects (bad numbers, zero-size boxes, duplicates...);
* patients without an image file, images that cannot be read;
* boxes that stick out of their image (more than one pixel; within one pixel they are clipped).

A file that cannot be used at all (wrong columns, not a CSV) raises
:class:`~detector.labels.LabelsError` before anything else happens.

Pixels go through the one model input, :func:`detector.preprocess.model_gray` (the same
function ``detect`` and the viewer use).
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from detector.fileio import atomic_open
from detector.identity import patient_id_for
from detector.imaging import DicomReadError, read_header
from detector.labels import LabelsError, read_class_info, read_labels
from detector.preprocess import model_gray
from detector.transforms import make_sample

logger = logging.getLogger(__name__)

DICOM_SUFFIXES = (".dcm", ".dicom", ".dic")
PNG_SUFFIXES = (".png",)
#: A box may stick out of its image by this many pixels (rounding); it is then clipped.
BOX_SLACK = 1.0
#: Severity order for stratifying groups by class.
_CLASS_RANK = {"Normal": 0, "No Lung Opacity / Not Normal": 1, "Lung Opacity": 2}


class DatasetError(Exception):
    """The training data cannot be used; ``str(err)`` is ``"<name>: <reason>"``."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{Path(self.path).name or self.path}: {reason}")


@dataclass
class ImageRecord:
    """One training image.

    Attributes
    ----------
    image_id : str
        The labels' ``patientId`` (file stem).
    path : str
    boxes : list of (x, y, w, h)
        In pixels of the original image; ``[]`` for an image with no findings.
    height, width : int
        Original image size.
    group : str
        Patient key for the split: the DICOM PatientID, else ``image_id``.
    klass : str
        RSNA class (from the class CSV) or ``"Lung Opacity"`` / ``"Negative"``.
    """

    image_id: str
    path: str
    boxes: list[tuple[float, float, float, float]]
    height: int
    width: int
    group: str
    klass: str = ""

    @property
    def positive(self) -> bool:
        return bool(self.boxes)


@dataclass
class DataReport:
    """What was skipped while loading, with the reasons.

    Attributes
    ----------
    problems : list of str
        One line each: ``"<file>:<line>: <reason>"`` or ``"<file>: <reason>"``.
    bad_rows : int
        Label rows skipped by the CSV reader (bad values, duplicates, zero-size boxes...).
    missing_images : int
        Patients of the labels file without an image in the folder.
    unreadable_images : int
    bad_boxes : int
        Boxes outside their image.
    unlabelled_images : int
        Images in the folder that the labels file does not mention (ignored, not a problem).
    """

    problems: list[str] = field(default_factory=list)
    bad_rows: int = 0
    missing_images: int = 0
    unreadable_images: int = 0
    bad_boxes: int = 0
    unlabelled_images: int = 0

    @property
    def skipped(self) -> int:
        """Everything skipped: bad rows, missing or unreadable images, bad boxes."""
        return self.bad_rows + self.missing_images + self.unreadable_images + self.bad_boxes

    def summary(self) -> str:
        parts = []
        if self.bad_rows:
            parts.append(f"{self.bad_rows} bad label row(s)")
        if self.missing_images:
            parts.append(f"{self.missing_images} patient(s) without an image")
        if self.unreadable_images:
            parts.append(f"{self.unreadable_images} unreadable image(s)")
        if self.bad_boxes:
            parts.append(f"{self.bad_boxes} box(es) outside the image")
        return "skipped " + ", ".join(parts) if parts else "no problems"


def find_images(folder: str | os.PathLike[str]) -> dict[str, str]:
    """``image id (file stem) -> path`` for the DICOM and PNG files under ``folder``.

    A DICOM file wins over a PNG with the same stem; otherwise the first path in sorted order.

    Raises
    ------
    DatasetError
        The folder does not exist.
    """
    root = os.fspath(folder)
    if not os.path.isdir(root):
        raise DatasetError(root, "image folder not found")
    found: dict[str, str] = {}
    pngs: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            stem, suffix = patient_id_for(name), os.path.splitext(name)[1]
            if suffix.lower() in DICOM_SUFFIXES:
                found.setdefault(stem, os.path.join(dirpath, name))
            elif suffix.lower() in PNG_SUFFIXES:
                pngs.setdefault(stem, os.path.join(dirpath, name))
    for stem, path in pngs.items():
        found.setdefault(stem, path)
    return found


def is_png(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in PNG_SUFFIXES


def probe_image(path: str) -> tuple[int, int, str]:
    """``(height, width, patient key)`` from the header only; ``DicomReadError`` when unusable."""
    if is_png(path):
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as img:
                width, height = img.size
        except (OSError, UnidentifiedImageError) as exc:
            raise DicomReadError(path, f"not a readable PNG ({exc})") from None
        return int(height), int(width), ""
    ds = read_header(path)
    rows, cols = ds.get("Rows"), ds.get("Columns")
    if not rows or not cols:
        raise DicomReadError(path, "no image: (0028,0010) Rows / (0028,0011) Columns missing")
    return int(rows), int(cols), str(ds.get("PatientID", "") or "").strip()


def _row_lines(path: str) -> tuple[dict[str, int], dict[tuple[str, tuple[float, ...]], int]]:
    """First line of each patientId and the line of each ``(patientId, box)`` of a labels CSV."""
    first: dict[str, int] = {}
    boxes: dict[tuple[str, tuple[float, ...]], int] = {}
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError):
        return first, boxes
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    try:
        header = [h.strip().lower() for h in next(reader)]
        cols = [header.index(c) for c in ("patientid", "x", "y", "width", "height")]
    except (StopIteration, ValueError, csv.Error):
        return first, boxes
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error:
            continue
        if len(fields) <= max(cols):
            continue
        pid = fields[cols[0]].strip()
        first.setdefault(pid, reader.line_num)
        try:
            box = tuple(float(fields[c]) for c in cols[1:])
        except ValueError:
            continue
        boxes.setdefault((pid, box), reader.line_num)
    return first, boxes


def _map(executor: Executor | None, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    if executor is None:
        return [fn(i) for i in items]
    return list(executor.map(fn, items))


def _probe_or_error(path: str) -> tuple[int, int, str] | str:
    try:
        return probe_image(path)
    except DicomReadError as err:
        return err.reason
    except Exception as exc:  # noqa: BLE001 - one bad file never stops the others
        return f"{type(exc).__name__}: {exc}"


def load_records(
    images: str | os.PathLike[str],
    labels: str | os.PathLike[str],
    classes: str | os.PathLike[str] | None = None,
    *,
    workers: int = 8,
) -> tuple[list[ImageRecord], DataReport]:
    """Join a labels CSV with an image folder, checking everything.

    Parameters
    ----------
    images : path
        Folder searched recursively for ``<patientId>.dcm`` (or ``.png``).
    labels : path
        RSNA labels CSV.
    classes : path, optional
        RSNA class CSV (``patientId,class``): used to stratify the split.
    workers : int
        Threads reading headers.

    Returns
    -------
    records : list of ImageRecord
        Sorted by image id.
    report : DataReport

    Raises
    ------
    LabelsError
        The labels or class file cannot be used at all (missing, wrong columns, not a CSV).
    DatasetError
        The image folder does not exist, or no labelled image could be used.
    """
    labels_path = os.fspath(labels)
    labels_file = read_labels(labels_path)  # LabelsError: stop at once
    class_info = read_class_info(classes) if classes is not None else None
    image_paths = find_images(images)
    report = DataReport(problems=list(labels_file.problems), bad_rows=labels_file.skipped)
    if class_info is not None:
        report.problems.extend(getattr(class_info, "problems", []))
    name = Path(labels_path).name
    first_line, box_lines = _row_lines(labels_path)

    ids = sorted(labels_file.boxes)
    present = [pid for pid in ids if pid in image_paths]
    for pid in ids:
        if pid not in image_paths:
            report.missing_images += 1
            report.problems.append(
                f"{name}:{first_line.get(pid, '?')}: no image for patientId {pid!r} "
                f"({pid}.dcm or {pid}.png) in {os.fspath(images)}"
            )
    report.unlabelled_images = len(set(image_paths) - set(ids))

    paths = [image_paths[pid] for pid in present]
    pool = ThreadPoolExecutor(max_workers=max(1, workers)) if workers > 1 and paths else None
    try:
        probes = _map(pool, _probe_or_error, paths)
    finally:
        if pool is not None:
            pool.shutdown()

    records: list[ImageRecord] = []
    for pid, path, probe in zip(present, paths, probes, strict=True):
        if isinstance(probe, str):
            report.unreadable_images += 1
            report.problems.append(f"{path}: {probe}")
            continue
        height, width, patient = probe
        kept: list[tuple[float, float, float, float]] = []
        for box in labels_file.boxes[pid]:
            x, y, w, h = box
            if (
                x < -BOX_SLACK
                or y < -BOX_SLACK
                or x + w > width + BOX_SLACK
                or (y + h > height + BOX_SLACK)
            ):
                report.bad_boxes += 1
                line = box_lines.get((pid, tuple(float(v) for v in box)), "?")
                report.problems.append(
                    f"{name}:{line}: box (x={x:g}, y={y:g}, width={w:g}, height={h:g}) lies "
                    f"outside the {width}x{height} image {Path(path).name}"
                )
                continue
            x0, y0 = max(0.0, x), max(0.0, y)
            x1, y1 = min(float(width), x + w), min(float(height), y + h)
            if x1 - x0 < 1.0 or y1 - y0 < 1.0:
                report.bad_boxes += 1
                report.problems.append(
                    f"{name}:{box_lines.get((pid, tuple(box)), '?')}: box of {pid!r} is "
                    "smaller than one pixel inside the image"
                )
                continue
            kept.append((x0, y0, x1 - x0, y1 - y0))
        if labels_file.boxes[pid] and not kept:
            # Training it as a negative would teach the model the opposite of the label.
            report.problems.append(
                f"{name}:{first_line.get(pid, '?')}: every box of {pid!r} is bad; image skipped"
            )
            continue
        klass = (class_info or {}).get(pid, "") or ("Lung Opacity" if kept else "Negative")
        records.append(ImageRecord(pid, path, kept, height, width, patient or pid, klass))
    if not records:
        raise DatasetError(
            labels_path,
            f"no usable labelled images ({len(ids)} patient(s) in the labels, "
            f"{len(image_paths)} image file(s) in {os.fspath(images)}; {report.summary()})",
        )
    return records, report


# ---------------------------------------------------------------------------------------------
# Split


def split_records(
    records: Sequence[ImageRecord], val_fraction: float, seed: int
) -> tuple[list[ImageRecord], list[ImageRecord]]:
    """Patient-level split, stratified by class (positive/negative without a class file).

    All images of one patient (``record.group``) land in the same set. Each stratum is shuffled
    with ``seed`` and gives ``round(n * val_fraction)`` patients to validation; when that is 0
    everywhere but there are at least two patients, the largest stratum gives one.

    Returns
    -------
    train, val : list of ImageRecord
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), not {val_fraction}")
    groups: dict[str, list[ImageRecord]] = {}
    for rec in records:
        groups.setdefault(rec.group, []).append(rec)
    strata: dict[int, list[str]] = {}
    for key, recs in groups.items():
        # The most severe class of the patient's images (boxes always mean Lung Opacity).
        rank = max(2 if r.positive else _CLASS_RANK.get(r.klass, 0) for r in recs)
        strata.setdefault(rank, []).append(key)
    rng = np.random.default_rng(seed)
    val_groups: set[str] = set()
    for rank in sorted(strata):
        keys = sorted(strata[rank])
        order = rng.permutation(len(keys))
        n_val = int(round(len(keys) * val_fraction))
        val_groups.update(keys[i] for i in order[:n_val])
    if val_fraction > 0 and not val_groups and len(groups) >= 2:
        largest = max(strata.values(), key=len)
        val_groups.add(sorted(largest)[int(rng.integers(len(largest)))])
    train = [r for r in records if r.group not in val_groups]
    val = [r for r in records if r.group in val_groups]
    return train, val


SPLIT_COLUMNS = ("patientId", "group", "split", "positive")


def write_split(
    path: str | os.PathLike[str], train: Iterable[ImageRecord], val: Iterable[ImageRecord]
) -> None:
    """Save a split as CSV (``patientId,group,split,positive``), atomically."""
    with atomic_open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(SPLIT_COLUMNS)
        for name, recs in (("train", train), ("val", val)):
            for r in recs:
                writer.writerow([r.image_id, r.group, name, int(r.positive)])


def read_split(path: str | os.PathLike[str]) -> dict[str, str]:
    """``patientId -> "train" | "val"`` from :func:`write_split`'s file.

    Raises
    ------
    DatasetError
        Missing or malformed file.
    """
    spath = os.fspath(path)
    try:
        with open(spath, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise DatasetError(spath, f"cannot read the split file ({exc.strerror or exc})") from None
    out: dict[str, str] = {}
    for i, row in enumerate(rows, start=2):
        pid, split = row.get("patientId"), row.get("split")
        if not pid or split not in ("train", "val"):
            raise DatasetError(spath, f"line {i}: not a split row (patientId, split=train|val)")
        out[pid] = split
    return out


def apply_split(
    records: Sequence[ImageRecord], assignment: dict[str, str]
) -> tuple[list[ImageRecord], list[ImageRecord]]:
    """Re-use a saved split; images it does not list go to training."""
    train = [r for r in records if assignment.get(r.image_id, "train") == "train"]
    val = [r for r in records if assignment.get(r.image_id) == "val"]
    return train, val


# ---------------------------------------------------------------------------------------------
# Pixels


def load_gray(path: str, *, input_size: int, equalize: str = "none") -> tuple[np.ndarray, float]:
    """:func:`detector.preprocess.model_gray` without the size (the one model input).

    Returns
    -------
    gray : ndarray
        uint8 ``(h, w)`` with ``max(h, w) == input_size``.
    scale : float
        Model pixels per original pixel.

    Raises
    ------
    DicomReadError
        The file cannot be read.
    """
    gray, scale, _size = model_gray(path, input_size=input_size, equalize=equalize)
    return gray, scale


def _load_gray_job(job: tuple[str, int, str]) -> np.ndarray | str:
    path, size, equalize = job
    try:
        return load_gray(path, input_size=size, equalize=equalize)[0]
    except DicomReadError as err:
        return err.reason
    except Exception as exc:  # noqa: BLE001 - reported per file
        return f"{type(exc).__name__}: {exc}"


class DetectionDataset(Dataset[tuple[torch.Tensor, dict[str, Any]]]):
    """Images and boxes for torchvision detection models.

    ``dataset[i]`` is ``(image, target)``: ``image`` float32 ``[1, h, w]`` in [0, 1] at the model
    input size (one grey channel; :func:`detector.engine.to_model_images` expands it), and
    ``target`` with ``boxes`` float32 ``[N, 4]`` XYXY in model-input pixels, ``labels`` int64
    ``[N]`` (1 = Lung Opacity) and ``index`` (position in :attr:`records`).

    Parameters
    ----------
    records : sequence of ImageRecord
    input_size : int
    equalize : {"none", "hist", "clahe"}
    transforms : callable, optional
        A :func:`detector.transforms.build_transforms` pipeline (``None``: no augmentation).
    """

    def __init__(
        self,
        records: Sequence[ImageRecord],
        *,
        input_size: int,
        equalize: str = "none",
        transforms: Callable[..., Any] | None = None,
    ) -> None:
        self.records = list(records)
        self.input_size = int(input_size)
        self.equalize = equalize
        if transforms is None:
            from detector.transforms import build_transforms

            transforms = build_transforms("none")
        self.transforms = transforms
        self._cache: list[np.ndarray | None] = [None] * len(self.records)
        self._warned: set[int] = set()

    def __len__(self) -> int:
        return len(self.records)

    def scale_of(self, index: int) -> float:
        rec = self.records[index]
        return self.input_size / max(rec.height, rec.width)

    def preload(self, workers: int = 1) -> list[str]:
        """Decode every image once into memory (uint8 at the input size).

        Returns
        -------
        list of str
            ``"<file>: <reason>"`` for images that could not be decoded; those are dropped
            from :attr:`records`.
        """
        jobs = [(r.path, self.input_size, self.equalize) for r in self.records]
        if workers > 1 and len(jobs) > 8:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                grays = list(pool.map(_load_gray_job, jobs, chunksize=8))
        else:
            grays = [_load_gray_job(j) for j in jobs]
        problems = []
        keep_records, keep_cache = [], []
        for rec, gray in zip(self.records, grays, strict=True):
            if isinstance(gray, str):
                problems.append(f"{rec.path}: {gray}")
                continue
            keep_records.append(rec)
            keep_cache.append(gray)
        self.records = keep_records
        self._cache = list(keep_cache)
        return problems

    @property
    def cached(self) -> bool:
        return bool(self._cache) and all(g is not None for g in self._cache)

    def cache_bytes(self) -> int:
        """Estimated memory of a full preload."""
        return len(self.records) * self.input_size * self.input_size

    def _gray(self, index: int) -> np.ndarray:
        cached = self._cache[index]
        if cached is not None:
            return cached
        return load_gray(
            self.records[index].path, input_size=self.input_size, equalize=self.equalize
        )[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        n = len(self.records)
        for attempt in range(n):
            i = (index + attempt) % n
            try:
                gray = self._gray(i)
            except DicomReadError as err:
                # One bad file never stops training: warn once, use the next image.
                if i not in self._warned:
                    self._warned.add(i)
                    logger.warning("%s: %s (skipped)", self.records[i].path, err.reason)
                continue
            return self._sample(i, gray)
        raise DatasetError(self.records[index].path, "no image of the dataset can be read")

    def _sample(self, index: int, gray: np.ndarray) -> tuple[torch.Tensor, dict[str, Any]]:
        scale = self.scale_of(index)
        boxes = torch.tensor(
            [
                (x * scale, y * scale, (x + w) * scale, (y + h) * scale)
                for x, y, w, h in self.records[index].boxes
            ],
            dtype=torch.float32,
        ).reshape(-1, 4)
        image, target = make_sample(torch.from_numpy(np.ascontiguousarray(gray)), boxes)
        image, target = self.transforms(image, target)
        target["index"] = index
        return image, target


def collate(batch: Sequence[tuple[torch.Tensor, dict[str, Any]]]) -> tuple[list, list]:
    """Detection batches stay lists (images may differ in size)."""
    images, targets = zip(*batch, strict=True) if batch else ((), ())
    return list(images), list(targets)


def positives_count(records: Iterable[ImageRecord]) -> int:
    return sum(1 for r in records if r.positive)


def truth_of(records: Iterable[ImageRecord]) -> dict[str, list[tuple[float, float, float, float]]]:
    """``patientId -> boxes`` in original pixels, for :func:`detector.metrics.evaluate`."""
    return {r.image_id: list(r.boxes) for r in records}


__all__ = [
    "DataReport",
    "DatasetError",
    "DetectionDataset",
    "ImageRecord",
    "LabelsError",
    "apply_split",
    "collate",
    "find_images",
    "load_gray",
    "load_records",
    "positives_count",
    "read_split",
    "split_records",
    "truth_of",
    "write_split",
]
