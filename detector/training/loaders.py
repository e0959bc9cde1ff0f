"""The data side of a training run: datasets, the optional in-memory cache, DataLoaders.

:func:`build_datasets` makes the training (augmented) and validation
:class:`~detector.training.datasets.DetectionDataset` s and decodes every image into memory
when asked (``--cache yes``) or when they fit in :data:`AUTO_CACHE_BYTES` (``--cache auto``);
:func:`log_problems` reports what was skipped; :func:`build_loaders` makes the DataLoaders with
DistributedSampler s (one replica in a one-process run).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, DistributedSampler

from detector.files.image_files import DatasetError
from detector.training.config import TrainConfig
from detector.training.datasets import DetectionDataset, collate
from detector.training.distributed import DistContext
from detector.training.records import DataReport, ImageRecord
from detector.training.transforms import build_transforms

logger = logging.getLogger(__name__)

#: Preload decoded images into memory when they fit in this many bytes (``cache="auto"``).
AUTO_CACHE_BYTES = 4 << 30
#: Problems shown in the log; the full list goes to ``<out stem>.problems.txt``.
SHOWN_PROBLEMS = 20


def build_datasets(
    config: TrainConfig,
    train_records: list[ImageRecord],
    val_records: list[ImageRecord],
    report: DataReport,
    main: bool,
) -> tuple[DetectionDataset, DetectionDataset, bool]:
    """The training and validation datasets, decoded into memory when that is asked or fits.

    Images that cannot be decoded while caching are dropped from the datasets and counted in
    ``report``.

    Returns
    -------
    train_ds, val_ds : DetectionDataset
    cached : bool
        Every image was decoded into memory.

    Raises
    ------
    DatasetError
        No training image could be decoded.
    """
    train_ds = DetectionDataset(
        train_records,
        input_size=config.input_size,
        equalize=config.equalize,
        transforms=build_transforms(config.augment, jitter=config.jitter),
    )
    val_ds = DetectionDataset(val_records, input_size=config.input_size, equalize=config.equalize)
    cache = config.cache == "yes" or (
        config.cache == "auto" and train_ds.cache_bytes() + val_ds.cache_bytes() <= AUTO_CACHE_BYTES
    )
    if cache:
        procs = max(1, min(16, os.cpu_count() or 1))
        t0 = time.perf_counter()
        for ds in (train_ds, val_ds):
            failed = ds.preload(procs)
            report.unreadable_images += len(failed)
            report.problems.extend(failed)
        if main:
            logger.info(
                "decoded %d image(s) into memory in %.1f s",
                len(train_ds) + len(val_ds),
                time.perf_counter() - t0,
            )
        if not train_ds.records:
            raise DatasetError(config.labels, "no training image could be decoded")
    return train_ds, val_ds, cache


def log_problems(report: DataReport, path: Path, main: bool) -> None:
    """Log the first problems and write all of them to ``path`` (``<out stem>.problems.txt``).

    The file is written even when there is nothing to report (then empty), so that a run's
    outputs are always the same set of files and an old list never outlives its run.
    """
    if not main:
        return
    for line in report.problems[:SHOWN_PROBLEMS]:
        logger.warning("%s", line)
    more = len(report.problems) - SHOWN_PROBLEMS
    if more > 0:
        logger.warning("... and %d more problem(s), all listed in %s", more, path)
    from detector.files.output import atomic_write_text

    atomic_write_text(path, "".join(f"{line}\n" for line in report.problems))


def auto_workers(cached: bool) -> int:
    """DataLoader worker processes when ``--workers`` is not given."""
    cpus = os.cpu_count() or 1
    if cpus <= 2:
        return 0
    return min(8, cpus - 1) if not cached else min(4, cpus - 1)


@dataclass
class Loaders:
    """The training loader (and its sampler, reseeded every epoch) and the validation loader."""

    train_sampler: DistributedSampler[Any]
    train: DataLoader[Any]
    val: DataLoader[Any] | None


def build_loaders(
    config: TrainConfig,
    train_ds: DetectionDataset,
    val_ds: DetectionDataset,
    cached: bool,
    ddp: DistContext,
    device: torch.device,
) -> Loaders:
    """Shuffled training batches and in-order validation batches (``None`` without images)."""
    workers = config.workers if config.workers is not None else auto_workers(cached)
    train_sampler: DistributedSampler[Any] = DistributedSampler(
        train_ds, num_replicas=ddp.world, rank=ddp.rank, shuffle=True, seed=config.seed
    )
    loader_kw: dict[str, Any] = {
        "collate_fn": collate,
        "num_workers": workers,
        "pin_memory": device.type == "cuda",
        "persistent_workers": workers > 0,
    }
    train_loader = DataLoader(
        train_ds, batch_size=config.batch_size, sampler=train_sampler, **loader_kw
    )
    val_loader = None
    if val_ds.records:
        val_sampler: DistributedSampler[Any] = DistributedSampler(
            val_ds, num_replicas=ddp.world, rank=ddp.rank, shuffle=False
        )
        val_loader = DataLoader(
            val_ds, batch_size=config.batch_size, sampler=val_sampler, **loader_kw
        )
    return Loaders(train_sampler, train_loader, val_loader)
