"""Train a lung-opacity detector: data checks, split, loop, checkpoints (``pneumoview train``).

:func:`train` does, in order:

1. start from scratch, or from the checkpoint of ``--resume`` / ``--init``
   (:func:`detector.training.checkpointing.read_start`);
2. read and check the data (:func:`detector.training.records.load_records`); a wrong labels file
   stops here, bad rows / missing images / boxes outside the image are skipped and reported;
3. split by patient, stratified, seeded (or re-use the split of the run being resumed;
   :mod:`detector.training.splits`) and save it next to the checkpoint (``<out stem>.split.csv``);
4. build the datasets and loaders (:mod:`detector.training.loaders`) and the model
   (:func:`detector.model.build.build_model`), optionally from ``--init`` weights or local
   ImageNet ``--backbone-weights``, placed by :func:`detector.training.distributed.place_model`
   (autocast + channels_last on CUDA, DistributedDataParallel when started by ``torchrun`` with
   ``WORLD_SIZE > 1``);
5. train with AdamW (or SGD), linear warm-up then cosine decay (or ReduceLROnPlateau on the
   validation RSNA metric, patience 4, factor 0.2; :mod:`detector.training.optimisation`),
   gradient clipping;
6. after each epoch: validation RSNA metric at its best threshold, mAP@0.5, images/s; write
   ``<out>`` when the metric improved (the best checkpoint, its ``threshold`` set to the best
   validation threshold so ``detect`` uses it) and ``<out stem>.last.pt`` (with ``train_state``
   for ``--resume``; :mod:`detector.training.checkpointing`); stop early after ``early_stop``
   epochs without improvement.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from detector.files.image_files import DatasetError
from detector.model.build import build_model
from detector.training.checkpointing import (
    Progress,
    Start,
    checkpoint_meta,
    load_weights,
    read_start,
    resume_progress,
    save_epoch,
    train_state,
    training_meta,
)
from detector.training.config import TrainConfig, TrainResult, sibling
from detector.training.datasets import DetectionDataset
from detector.training.distributed import (
    DistContext,
    Precision,
    finish_distributed,
    gather_preds,
    init_distributed,
    place_model,
    unwrap,
)
from detector.training.engine import (
    EpochStats,
    predict_dataset,
    score,
    selection_value,
    train_one_epoch,
)
from detector.training.loaders import Loaders, build_datasets, build_loaders, log_problems
from detector.training.optimisation import Optimisation, build_optimisation, fit_time_budget
from detector.training.records import (
    DataReport,
    ImageRecord,
    load_records,
    positives_count,
    truth_of,
)
from detector.training.splits import apply_split, kfold_records, split_records, write_split
from detector.types import CLASS_NAMES

logger = logging.getLogger(__name__)


def train(
    config: TrainConfig, *, on_step: Callable[[int, int, int | None], None] | None = None
) -> TrainResult:
    """Run a training job described by ``config``.

    ``on_step(epoch, steps_done, steps_per_epoch)`` is called after every training step
    (progress and ETA for ``improve``); an exception it raises (a cancel) stops the run.

    Returns
    -------
    TrainResult
        Paths of the best and last checkpoints and the split file, per-epoch history, the best
        validation metrics, the data report.

    Raises
    ------
    ValueError
        A bad option.
    detector.rsna.labels.LabelsError
        The labels or class file cannot be used at all (nothing was trained).
    detector.files.image_files.DatasetError
        No usable images, or no training images after the split.
    detector.model.checkpoint.CheckpointError
        ``--resume`` / ``--init`` checkpoint cannot be used.
    FloatingPointError
        The loss diverged, or the validation metric is not finite (the last good checkpoints
        are kept; a NaN is never saved as "best").
    """
    config.check()
    ddp, device = init_distributed(config.device)
    result = TrainResult(
        best=Path(config.out),
        last=sibling(config.out, ".last.pt"),
        split=sibling(config.out, ".split.csv"),
    )
    start = read_start(config)
    train_records, val_records, result.report = _split_records(config, start)
    train_ds, val_ds, cached = build_datasets(
        config, train_records, val_records, result.report, ddp.main
    )
    _report_data(config, result, train_ds.records, val_ds.records, ddp.main)
    loaders = build_loaders(config, train_ds, val_ds, cached, ddp, device)
    model, precision = _build_model(config, start, device, ddp)
    optimisation = build_optimisation(config, model, len(loaders.train))
    progress = resume_progress(start, optimisation, precision, config, ddp.main)
    result.start_epoch = progress.start_epoch
    run = _Run(
        config=config,
        ddp=ddp,
        device=device,
        model=model,
        precision=precision,
        optimisation=optimisation,
        loaders=loaders,
        val_ds=val_ds,
        progress=progress,
        training=training_meta(
            config,
            train_ds.records,
            val_ds.records,
            result.report,
            result.split,
            device,
            ddp,
            precision,
        ),
        truth=truth_of(val_ds.records),
        split_ids={
            "train": [r.image_id for r in train_ds.records],
            "val": [r.image_id for r in val_ds.records],
        },
        on_step=on_step,
    )
    _run_epochs(run, result)
    finish_distributed(ddp)
    result.history = progress.history
    result.best_metrics = progress.best_metrics
    return result


def _split_records(
    config: TrainConfig, start: Start
) -> tuple[list[ImageRecord], list[ImageRecord], DataReport]:
    """Read and check the data, and split it: the resumed run's split, a fold, or hold-out."""
    records, report = load_records(
        config.images,
        config.labels,
        config.classes,
        workers=min(16, (os.cpu_count() or 1) * 2),
        labels_size=config.labels_size,
    )
    split = start.split
    if split is not None:
        assignment = {pid: "val" for pid in split.get("val", [])}
        assignment.update({pid: "train" for pid in split.get("train", [])})
        train_records, val_records = apply_split(records, assignment)
    elif config.folds:
        train_records, val_records = kfold_records(records, config.folds, config.fold, config.seed)
    else:
        train_records, val_records = split_records(records, config.val_fraction, config.seed)
    if not train_records:
        raise DatasetError(config.labels, "no training images left after the validation split")
    return train_records, val_records, report


def _report_data(
    config: TrainConfig,
    result: TrainResult,
    train_records: list[ImageRecord],
    val_records: list[ImageRecord],
    main: bool,
) -> None:
    """Log and save the data problems and the split (rank 0 writes the files)."""
    log_problems(result.report, sibling(config.out, ".problems.txt"), main)
    if not main:
        return
    write_split(result.split, train_records, val_records)
    logger.info(
        "data: %d training image(s) (%d positive), %d validation (%d positive); %s; "
        "split saved to %s",
        len(train_records),
        positives_count(train_records),
        len(val_records),
        positives_count(val_records),
        result.report.summary(),
        result.split,
    )
    if not val_records:
        logger.warning("no validation images: the best checkpoint is the last one")


def _build_model(
    config: TrainConfig, start: Start, device: torch.device, ddp: DistContext
) -> tuple[nn.Module, Precision]:
    """The seeded model with the start checkpoint's weights, placed on ``device``."""
    torch.manual_seed(config.seed)
    model = build_model(
        config.arch,
        backbone=config.backbone,
        num_classes=len(CLASS_NAMES),
        min_size=config.input_size,
        backbone_weights=config.backbone_weights if start.weights is None else None,
        pretrained=config.uses_imagenet(),
        bn=config.bn,
    )
    load_weights(model, start, config)
    return place_model(model, device, ddp, amp=config.amp)


@dataclass
class _Run:
    """Everything the epoch loop works with."""

    config: TrainConfig
    ddp: DistContext
    device: torch.device
    model: nn.Module
    precision: Precision
    optimisation: Optimisation
    loaders: Loaders
    val_ds: DetectionDataset
    progress: Progress
    training: dict[str, Any]
    truth: dict[str, list[tuple[float, float, float, float]]]
    split_ids: dict[str, list[str]]
    on_step: Callable[[int, int, int | None], None] | None = None


def _run_epochs(run: _Run, result: TrainResult) -> None:
    """Train, validate, save and log each epoch; stop at the end, the budget or early stop."""
    config, progress = run.config, run.progress
    loop_start = time.perf_counter()
    epoch = progress.start_epoch
    while epoch <= config.epochs:
        stats = _train_epoch(run, epoch)
        metrics = _validate(run, epoch)
        value = selection_value(metrics) if metrics else float(epoch)
        improved = value > progress.best_value + 1e-9
        if improved:
            progress.best_value, progress.best_metrics, progress.bad_epochs = value, metrics, 0
        else:
            progress.bad_epochs += 1
        run.optimisation.end_epoch(value, bool(metrics))
        images_per_s = stats.images_per_s * run.ddp.world
        progress.history.append(
            {
                "epoch": epoch,
                "loss": stats.loss,
                "losses": stats.parts,
                "lr": stats.lr,
                "images_per_s": round(images_per_s, 2),
                "seconds": round(stats.seconds, 2),
                **{f"val_{k}": v for k, v in metrics.items()},
            }
        )
        threshold = float(metrics.get("threshold", 0.5)) if metrics else 0.5
        if run.ddp.main:
            _log_epoch(config, epoch, stats, metrics, threshold, images_per_s, improved)
            save_epoch(
                result.best,
                result.last,
                run.model,
                checkpoint_meta(config, run.training, progress.history, epoch, metrics, threshold),
                improved=improved,
                half=config.half_weights,
                train_state=train_state(
                    epoch, run.optimisation, run.precision, progress, run.split_ids, config
                ),
            )
        result.epochs_run += 1
        if config.time_budget and result.epochs_run == 1:
            fit_time_budget(config, run.optimisation, loop_start, epoch, run.ddp)
        epoch += 1
        if config.early_stop and metrics and progress.bad_epochs >= config.early_stop:
            if run.ddp.main:
                logger.info(
                    "early stop: no better validation RSNA metric for %d epoch(s)",
                    progress.bad_epochs,
                )
            result.stopped_early = True
            break


def _train_epoch(run: _Run, epoch: int) -> EpochStats:
    """One pass over the training loader."""
    config = run.config
    run.loaders.train_sampler.set_epoch(epoch)
    # Augmentation randomness (and DataLoader worker seeds) follow the epoch, so a resumed
    # run sees the same random stream as an uninterrupted one.
    torch.manual_seed(config.seed * 100_003 + epoch * 1009 + run.ddp.rank)
    return train_one_epoch(
        run.model,
        run.optimisation.optimizer,
        run.loaders.train,
        run.device,
        epoch=epoch,
        step_scheduler=run.optimisation.step_scheduler,
        scaler=run.precision.scaler,
        amp_dtype=run.precision.amp_dtype,
        grad_clip=config.grad_clip,
        max_steps=config.max_steps_per_epoch,
        progress=config.progress and run.ddp.main,
        total=run.optimisation.steps_per_epoch,
        on_step=run.on_step,
    )


def _validate(run: _Run, epoch: int) -> dict[str, float]:
    """The validation metrics of this epoch (``{}`` without validation images).

    Raises
    ------
    FloatingPointError
        The RSNA metric is not a number (no validation image could be scored).
    """
    if run.loaders.val is None:
        return {}
    config = run.config
    preds = predict_dataset(
        unwrap(run.model),
        run.loaders.val,
        run.device,
        run.val_ds.records,
        config.input_size,
        amp_dtype=run.precision.amp_dtype,
        progress=config.progress and run.ddp.main,
    )
    metrics = score(run.truth, gather_preds(preds, run.ddp))
    if metrics and not math.isfinite(metrics.get("rsna_map", math.nan)):
        # NaN means no validation image could be scored: nothing to choose "best" by.
        raise FloatingPointError(
            f"the validation RSNA metric is not a number at epoch {epoch} "
            f"({int(metrics.get('positive_images', 0))} of {len(run.val_ds.records)} validation "
            "image(s) have a box and the model predicted none); check that the labels' "
            "boxes fit the images (pixel space of converted PNGs) and that the validation "
            "set has positive images; no checkpoint was saved for this epoch"
        )
    return metrics


def _log_epoch(
    config: TrainConfig,
    epoch: int,
    stats: EpochStats,
    metrics: dict[str, float],
    threshold: float,
    images_per_s: float,
    improved: bool,
) -> None:
    parts = ", ".join(f"{k} {v:.4f}" for k, v in stats.parts.items())
    val_text = (
        f"val RSNA {metrics['rsna_map']:.4f} @ {threshold:.2f}, "
        f"mAP@0.5 {metrics['map50']:.4f}, sens {metrics['sensitivity']:.2f}, "
        f"spec {metrics['specificity']:.2f}"
        if metrics
        else "no validation"
    )
    logger.info(
        "epoch %d/%d: loss %.4f (%s); %s; %.1f img/s; lr %.2e%s",
        epoch,
        config.epochs,
        stats.loss,
        parts,
        val_text,
        images_per_s,
        stats.lr,
        " (best)" if improved else "",
    )
