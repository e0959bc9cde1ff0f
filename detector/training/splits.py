"""Patient-level train/validation splits of training records, and the split file.

:func:`split_records` (stratified hold-out) and :func:`kfold_records` (stratified K-fold) keep
all images of one patient in the same set; :func:`write_split` / :func:`read_split` save and
read the ``<out stem>.split.csv`` file, and :func:`apply_split` re-uses a saved assignment.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence

import numpy as np

from detector.files.image_files import (
    DatasetError,
)
from detector.rsna.csv_cells import unescape_cell
from detector.rsna.csv_write import write_rows
from detector.training.records import ImageRecord

#: Severity order for stratifying groups by class.
_CLASS_RANK = {"Normal": 0, "No Lung Opacity / Not Normal": 1, "Lung Opacity": 2}


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
    """Save a split as CSV (``patientId,group,split,positive``), atomically, through the one
    CSV writer (:func:`detector.rsna.csv_write.write_rows`)."""
    rows = (
        [r.image_id, r.group, name, int(r.positive)]
        for name, recs in (("train", train), ("val", val))
        for r in recs
    )
    write_rows(path, SPLIT_COLUMNS, rows)


def read_split(path: str | os.PathLike[str]) -> dict[str, str]:
    """``patientId -> "train" | "val"`` from :func:`write_split`'s file.

    Raises
    ------
    DatasetError
        Missing or malformed file.
    """
    spath = os.fspath(path)
    try:
        with open(spath, encoding="utf-8", errors="surrogateescape", newline="") as fh:
            rows = [
                {k: unescape_cell(v) if isinstance(v, str) else v for k, v in row.items()}
                for row in csv.DictReader(fh)
            ]
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
