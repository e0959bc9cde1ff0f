"""Training data: RSNA labels + an image folder -> checked records -> a torch ``Dataset``.

:func:`load_records` joins a labels CSV (``patientId,x,y,width,height,Target``; the RSNA file, a
``pneumoview synth`` set or the viewer's export) with the images of a folder (DICOM files named
``<patientId>.dcm``, or PNGs named ``<patientId>.png`` written by ``pneumoview convert`` at the
labels' pixel scale). Bad data never reaches training and is always reported as
``"<file>:<line>: <reason>"`` or ``"<file>: <reason>"``:

* rows :func:`detector.rsna.labels.read_labels` rejects (bad numbers, zero-size boxes, duplicates...);
* patients without an image file, images that cannot be read;
* boxes that stick out of their image (more than one pixel; within one pixel they are clipped).

A file that cannot be used at all (wrong columns, not a CSV) raises
:class:`~detector.rsna.labels.LabelsError` before anything else happens.

Pixels go through the one model input, :func:`detector.model.preprocess.model_gray` (the same
function ``detect`` and the viewer use).
"""

from __future__ import annotations

import csv
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

from detector.files.image_files import (
    DICOM_SUFFIXES,
    PNG_SUFFIXES,
    DatasetError,
    find_images,
    is_png,
    probe_image,
)
from detector.files.output import atomic_open
from detector.imaging.read import DicomReadError
from detector.model.preprocess import model_gray
from detector.rsna.labels import (
    BOX_SLACK,
    LabelsError,
    outside_image,
    outside_problem,
    read_class_info,
    read_labels,
)
from detector.training.transforms import make_sample

logger = logging.getLogger(__name__)

#: Severity order for stratifying groups by class.
_CLASS_RANK = {"Normal": 0, "No Lung Opacity / Not Normal": 1, "Lung Opacity": 2}


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
        Boxes outside their image (or smaller than a pixel).
    dropped_images : int
        Images left out because one of their boxes or rows is bad.
    unlabelled_images : int
        Images in the folder that the labels file does not mention (ignored, not a problem).
    """

    problems: list[str] = field(default_factory=list)
    bad_rows: int = 0
    missing_images: int = 0
    unreadable_images: int = 0
    bad_boxes: int = 0
    dropped_images: int = 0
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
        if self.dropped_images:
            parts.append(f"{self.dropped_images} image(s) with a bad box or row")
        return "skipped " + ", ".join(parts) if parts else "no problems"


def read_converted_sizes(folder: str | os.PathLike[str]) -> dict[str, tuple[int, int]]:
    """``PNG file name -> (height, width) of its source image`` from ``convert``'s index.csv.

    ``pneumoview convert --size N`` shrinks the images but the labels stay in the source's
    pixels; the index it writes beside the PNGs records each source's size so that training
    can scale the boxes. Missing or older index files (without the size columns) give ``{}``.
    """
    path = os.path.join(os.fspath(folder), "index.csv")
    sizes: dict[str, tuple[int, int]] = {}
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            for row in csv.DictReader(fh):
                output = (row.get("output") or "").strip()
                try:
                    height = int(row.get("source_height") or 0)
                    width = int(row.get("source_width") or 0)
                except ValueError:
                    continue
                if output and height > 0 and width > 0:
                    sizes[os.path.basename(output)] = (height, width)
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}
    return sizes


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
    labels_size: int | None = None,
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
    labels_size : int, optional
        For PNGs that ``convert``'s index does not list: the longer side of the image the
        labels' boxes were drawn on (1024 for the RSNA set); boxes are scaled to the PNG.
        Default: the PNG's own pixels. A DICOM's labels are always in its own pixels.

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
    converted = read_converted_sizes(images)
    report = DataReport(problems=list(labels_file.problems), bad_rows=labels_file.skipped)
    if class_info is not None:
        report.problems.extend(getattr(class_info, "problems", []))
    name = Path(labels_path).name

    # An image whose only rows are bad is still reported (and left out) when it exists.
    ids = sorted(set(labels_file.boxes) | (labels_file.bad_ids & set(image_paths)))
    present = [pid for pid in ids if pid in image_paths]
    for pid in ids:
        if pid not in image_paths:
            report.missing_images += 1
            report.problems.append(
                f"{name}:{labels_file.first_line.get(pid, '?')}: no image for patientId {pid!r} "
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
        boxes = labels_file.boxes.get(pid, [])
        lines = labels_file.lines.get(pid, [])
        # Boxes are in the labels' pixel space: the source image's, which for a PNG written by
        # `convert --size` is recorded in its index.
        space_h, space_w = converted.get(Path(path).name, (height, width))
        if labels_size and is_png(path) and Path(path).name not in converted:
            longer = max(height, width)
            space_h = round(height * labels_size / longer)
            space_w = round(width * labels_size / longer)
        sx, sy = width / space_w, height / space_h
        bad: list[str] = []
        kept: list[tuple[float, float, float, float]] = []
        for box, line in zip(boxes, lines, strict=True):
            x, y, w, h = box
            if outside_image(box, space_w, space_h):
                bad.append(
                    outside_problem(f"{name}:{line}", box, space_w, space_h, Path(path).name)
                )
                continue
            x0, y0 = max(0.0, x), max(0.0, y)
            x1, y1 = min(float(space_w), x + w), min(float(space_h), y + h)
            if (x1 - x0) * sx < 1.0 or (y1 - y0) * sy < 1.0:
                bad.append(
                    f"{name}:{line}: box of {pid!r} is smaller than one pixel inside the image"
                )
                continue
            kept.append((x0 * sx, y0 * sy, (x1 - x0) * sx, (y1 - y0) * sy))
        if bad or pid in labels_file.bad_ids:
            # Training it with fewer boxes would teach the lost lesion as background.
            report.bad_boxes += len(bad)
            report.problems.extend(bad)
            report.dropped_images += 1
            report.problems.append(
                f"{name}:{labels_file.first_line.get(pid, lines[0] if lines else '?')}: image "
                f"{pid!r} left out of training: {len(bad) + (pid in labels_file.bad_ids)} of its "
                "boxes or rows is bad (see above)"
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


def _patient_strata(
    records: Sequence[ImageRecord],
) -> tuple[dict[str, list[ImageRecord]], dict[int, list[str]]]:
    """Records grouped by patient, and the patients by their most severe class."""
    groups: dict[str, list[ImageRecord]] = {}
    for rec in records:
        groups.setdefault(rec.group, []).append(rec)
    strata: dict[int, list[str]] = {}
    for key, recs in groups.items():
        # The most severe class of the patient's images (boxes always mean Lung Opacity).
        rank = max(2 if r.positive else _CLASS_RANK.get(r.klass, 0) for r in recs)
        strata.setdefault(rank, []).append(key)
    return groups, strata


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
    groups, strata = _patient_strata(records)
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


def kfold_records(
    records: Sequence[ImageRecord], folds: int, fold: int, seed: int
) -> tuple[list[ImageRecord], list[ImageRecord]]:
    """Patient-level, stratified K-fold: fold ``fold`` (0-based) of ``folds`` is validation.

    Patients are grouped and stratified as in :func:`split_records`; each stratum is shuffled
    with ``seed`` and dealt round-robin into the folds, so the ``folds`` validation sets are
    disjoint, cover every patient once, and keep the positive share of the whole set.

    Returns
    -------
    train, val : list of ImageRecord
    """
    if folds < 2:
        raise ValueError(f"folds must be >= 2, not {folds}")
    if not 0 <= fold < folds:
        raise ValueError(f"fold must be in 0..{folds - 1}, not {fold}")
    groups, strata = _patient_strata(records)
    rng = np.random.default_rng(seed)
    val_groups: set[str] = set()
    offset = 0
    for rank in sorted(strata):
        keys = sorted(strata[rank])
        order = rng.permutation(len(keys))
        val_groups.update(keys[j] for n, j in enumerate(order) if (n + offset) % folds == fold)
        offset += len(keys)  # the next stratum continues the deal where this one ended
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
    """:func:`detector.model.preprocess.model_gray` without the size (the one model input).

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
    input size (one grey channel; :func:`detector.training.engine.to_model_images` expands it), and
    ``target`` with ``boxes`` float32 ``[N, 4]`` XYXY in model-input pixels, ``labels`` int64
    ``[N]`` (1 = Lung Opacity) and ``index`` (position in :attr:`records`).

    Parameters
    ----------
    records : sequence of ImageRecord
    input_size : int
    equalize : {"none", "hist", "clahe"}
    transforms : callable, optional
        A :func:`detector.training.transforms.build_transforms` pipeline (``None``: no augmentation).
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
            from detector.training.transforms import build_transforms

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
    """``patientId -> boxes`` in original pixels, for :func:`detector.rsna.metrics.evaluate`."""
    return {r.image_id: list(r.boxes) for r in records}


__all__ = [
    "BOX_SLACK",
    "DICOM_SUFFIXES",
    "PNG_SUFFIXES",
    "is_png",
    "probe_image",
    "read_converted_sizes",
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
