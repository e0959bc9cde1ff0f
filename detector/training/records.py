"""Training records: RSNA labels + an image folder -> checked :class:`ImageRecord` list.

:func:`load_records` joins a labels CSV (``patientId,x,y,width,height,Target``; the RSNA file, a
``pneumoview synth`` set or the viewer's export) with the images of a folder (DICOM files named
``<patientId>.dcm``, or PNGs named ``<patientId>.png`` written by ``pneumoview convert`` at the
labels' pixel scale). Bad data never reaches training and is always reported as
``"<file>:<line>: <reason>"`` or ``"<file>: <reason>"`` in a :class:`DataReport`:

* rows :func:`detector.rsna.labels.read_labels` rejects (bad numbers, zero-size boxes, duplicates...);
* patients without an image file, images that cannot be read;
* boxes that stick out of their image (more than one pixel; within one pixel they are clipped).

A file that cannot be used at all (wrong columns, not a CSV) raises
:class:`~detector.rsna.labels.LabelsError` before anything else happens.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detector.files.image_files import (
    DatasetError,
    find_images,
    is_png,
    probe_image,
)
from detector.imaging.read import DicomReadError
from detector.rsna.csv_cells import unescape_cell
from detector.rsna.labels import (
    outside_image,
    outside_problem,
    read_class_info,
    read_labels,
)


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
        with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
            for row in csv.DictReader(fh):
                output = unescape_cell((row.get("output") or "").strip())
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


def positives_count(records: Iterable[ImageRecord]) -> int:
    return sum(1 for r in records if r.positive)


def truth_of(records: Iterable[ImageRecord]) -> dict[str, list[tuple[float, float, float, float]]]:
    """``patientId -> boxes`` in original pixels, for :func:`detector.rsna.metrics.evaluate`."""
    return {r.image_id: list(r.boxes) for r in records}
