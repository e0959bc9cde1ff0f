"""Train a lung-opacity detector: data checks, split, loop, checkpoints (``pneumoview train``).

:func:`train` does, in order:

1. read and check the data (:func:`detector.training.datasets.load_records`); a wrong labels file stops
   here, bad rows / missing images / boxes outside the image are skipped and reported;
2. split by patient, stratified, seeded (or re-use the split of the run being resumed) and save
   it next to the checkpoint (``<out stem>.split.csv``);
3. build the model (:func:`detector.model.build.build_model`), optionally from ``--init`` weights or
   local ImageNet ``--backbone-weights``;
4. train with AdamW (or SGD), linear warm-up then cosine decay (or ReduceLROnPlateau on the
   validation RSNA metric, patience 4, factor 0.2), gradient clipping, autocast + channels_last
   on CUDA, DistributedDataParallel when started by ``torchrun`` with ``WORLD_SIZE > 1``;
5. after each epoch: validation RSNA metric at its best threshold, mAP@0.5, images/s; write
   ``<out>`` when the metric improved (the best checkpoint, its ``threshold`` set to the best
   validation threshold so ``detect`` uses it) and ``<out stem>.last.pt`` (with ``train_state``
   for ``--resume``); stop early after ``early_stop`` epochs without improvement.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from detector.imaging.render import EQUALIZE_CHOICES
from detector.model.build import ARCHES, BACKBONES, build_model
from detector.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from detector.training.datasets import (
    DataReport,
    DatasetError,
    DetectionDataset,
    apply_split,
    collate,
    kfold_records,
    load_records,
    positives_count,
    split_records,
    truth_of,
    write_split,
)
from detector.training.engine import (
    EpochStats,
    Preds,
    predict_dataset,
    score,
    selection_value,
    train_one_epoch,
)
from detector.training.transforms import AUGMENT_LEVELS, build_transforms
from detector.types import CLASS_NAMES

logger = logging.getLogger(__name__)

SCHEDULERS = ("cosine", "plateau")
OPTIMIZERS = ("adamw", "sgd")
#: Preload decoded images into memory when they fit in this many bytes (``cache="auto"``).
AUTO_CACHE_BYTES = 4 << 30
#: Problems shown in the log; the full list goes to ``<out stem>.problems.txt``.
SHOWN_PROBLEMS = 20


@dataclass
class TrainConfig:
    """Every option of a training run (the ``pneumoview train`` arguments)."""

    images: str
    labels: str
    out: str
    classes: str | None = None
    labels_size: int | None = None
    arch: str = "retinanet"
    backbone: str = "resnet50"
    input_size: int = 512
    epochs: int = 20
    batch_size: int = 8
    lr: float = 2e-4
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    scheduler: str = "cosine"
    warmup_steps: int | None = None
    augment: str = "light"
    jitter: float = 0.0
    equalize: str = "none"
    val_fraction: float = 0.1
    folds: int = 0
    fold: int = 0
    seed: int = 0
    resume: str | None = None
    init: str | None = None
    backbone_weights: str | None = None
    device: str = "auto"
    workers: int | None = None
    cache: str = "auto"
    early_stop: int = 8
    time_budget: float | None = None
    grad_clip: float = 10.0
    amp: bool = True
    max_steps_per_epoch: int | None = None
    progress: bool = True
    half_weights: bool = False
    description: str | None = None

    def check(self) -> None:
        """Raise ``ValueError`` naming the first bad option."""
        if self.arch not in ARCHES:
            raise ValueError(f"--arch must be one of {', '.join(ARCHES)}, not {self.arch!r}")
        if self.backbone not in BACKBONES:
            raise ValueError(
                f"--backbone must be one of {', '.join(BACKBONES)}, not {self.backbone!r}"
            )
        if self.augment not in AUGMENT_LEVELS:
            raise ValueError(f"--augment must be one of {', '.join(AUGMENT_LEVELS)}")
        if self.equalize not in EQUALIZE_CHOICES:
            raise ValueError(f"--equalize must be one of {', '.join(EQUALIZE_CHOICES)}")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"--scheduler must be one of {', '.join(SCHEDULERS)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}")
        if self.cache not in ("auto", "yes", "no"):
            raise ValueError("--cache must be auto, yes or no")
        if not 32 <= self.input_size <= 4096:
            raise ValueError(f"--size must be in 32..4096, not {self.input_size}")
        if self.epochs < 1:
            raise ValueError("--epochs must be >= 1")
        if self.batch_size < 1:
            raise ValueError("--batch-size must be >= 1")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError("--lr must be > 0")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError("--val-fraction must be in [0, 1)")
        if self.jitter < 0:
            raise ValueError("--jitter must be >= 0")
        if self.early_stop < 0:
            raise ValueError("--early-stop must be >= 0")
        if self.folds and (self.folds < 2 or not 0 <= self.fold < self.folds):
            raise ValueError("--folds must be >= 2 and --fold in 0..folds-1")
        if self.resume and self.init:
            raise ValueError("--resume and --init cannot be combined")
        if self.labels_size is not None and self.labels_size < 1:
            raise ValueError("--labels-size must be >= 1")
        if self.workers is not None and self.workers < 0:
            raise ValueError("--workers must be >= 0")


@dataclass
class TrainResult:
    """What a run produced."""

    best: Path
    last: Path
    split: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    best_metrics: dict[str, float] = field(default_factory=dict)
    report: DataReport = field(default_factory=DataReport)
    start_epoch: int = 1
    epochs_run: int = 0
    stopped_early: bool = False


def sibling(out: str | os.PathLike[str], suffix: str) -> Path:
    """``model.pt`` + ``".last.pt"`` -> ``model.last.pt`` (same folder)."""
    path = Path(out)
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    return path.with_name(stem + suffix)


# ---------------------------------------------------------------------------------------------
# Distributed helpers


@dataclass
class _Dist:
    world: int = 1
    rank: int = 0
    local_rank: int = 0
    owned: bool = False  # this run started the process group (and ends it)

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed(device_request: str) -> tuple[_Dist, torch.device]:
    from detector.model.inference import resolve_device

    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return _Dist(), resolve_device(device_request)
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device_request in ("auto", "cuda")
    owned = not dist.is_initialized()
    if owned:
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    return _Dist(world, rank, local_rank, owned), device


def _gather_preds(preds: Preds, ddp: _Dist) -> Preds:
    if not ddp.enabled:
        return preds
    parts: list[Any] = [None] * ddp.world
    dist.all_gather_object(parts, preds)
    merged: Preds = {}
    for part in parts:
        merged.update(part or {})
    return merged


# ---------------------------------------------------------------------------------------------
# Schedules


class _WarmupCosine:
    """Per-step multiplier: linear warm-up from 0.001, then cosine decay to 1% (plain data)."""

    def __init__(self, warmup: int, total: int, cosine: bool) -> None:
        self.warmup = max(0, int(warmup))
        self.total = max(1, int(total))
        self.cosine = cosine

    def __call__(self, step: int) -> float:
        if self.warmup and step < self.warmup:
            return 0.001 + 0.999 * step / self.warmup
        if not self.cosine:
            return 1.0
        span = max(1, self.total - self.warmup)
        progress = min(1.0, (step - self.warmup) / span)
        return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * progress))


def _auto_workers(cached: bool) -> int:
    cpus = os.cpu_count() or 1
    if cpus <= 2:
        return 0
    return min(8, cpus - 1) if not cached else min(4, cpus - 1)


def _log_problems(report: DataReport, out: str, main: bool) -> None:
    """Log the first problems and write all of them to ``<out stem>.problems.txt``.

    The file is written even when there is nothing to report (then empty), so that a run's
    outputs are always the same set of files and an old list never outlives its run.
    """
    if not main:
        return
    for line in report.problems[:SHOWN_PROBLEMS]:
        logger.warning("%s", line)
    path = sibling(out, ".problems.txt")
    more = len(report.problems) - SHOWN_PROBLEMS
    if more > 0:
        logger.warning("... and %d more problem(s), all listed in %s", more, path)
    from detector.files.output import atomic_write_text

    atomic_write_text(path, "".join(f"{line}\n" for line in report.problems))


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in _unwrap(model).state_dict().items()}


def half_weights(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Store convolution/linear weights as float16 (half the file; loads into float32 models).

    One-dimensional tensors (biases, normalisation weights and running statistics) stay float32.
    """
    return {k: v.half() if v.is_floating_point() and v.ndim >= 2 else v for k, v in state.items()}


# ---------------------------------------------------------------------------------------------
# The run


def _fit_time_budget(
    config: TrainConfig,
    schedule: _WarmupCosine,
    steps_per_epoch: int,
    loop_start: float,
    epoch: int,
    ddp: _Dist,
) -> None:
    """After the first epoch: cut ``config.epochs`` to what fits in ``config.time_budget``
    seconds and shorten the cosine schedule to match (same decision on every rank)."""
    per_epoch = time.perf_counter() - loop_start
    budget = float(config.time_budget or 0)
    if ddp.enabled:
        box = [per_epoch]
        dist.broadcast_object_list(box, src=0)
        per_epoch = float(box[0])
    fit = max(epoch, epoch - 1 + int(budget // max(per_epoch, 1e-6)))
    if fit < config.epochs:
        if ddp.main:
            logger.info(
                "time budget %.0f s at %.1f s/epoch: training %d epoch(s) instead of %d",
                budget,
                per_epoch,
                fit,
                config.epochs,
            )
        config.epochs = fit
        schedule.total = max(1, steps_per_epoch * fit)


def train(config: TrainConfig) -> TrainResult:
    """Run a training job described by ``config``.

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
    detector.training.datasets.DatasetError
        No usable images, or no training images after the split.
    detector.model.checkpoint.CheckpointError
        ``--resume`` / ``--init`` checkpoint cannot be used.
    FloatingPointError
        The loss diverged, or the validation metric is not finite (the last good checkpoints
        are kept; a NaN is never saved as "best").
    """
    config.check()
    ddp, device = _init_distributed(config.device)
    main = ddp.main
    best_path = Path(config.out)
    last_path = sibling(config.out, ".last.pt")
    split_path = sibling(config.out, ".split.csv")

    # -- starting point ------------------------------------------------------------------
    init_state: dict[str, torch.Tensor] | None = None
    train_state: dict[str, Any] | None = None
    resumed_meta: dict[str, Any] = {}
    if config.resume or config.init:
        source = config.resume or config.init
        assert source is not None
        init_state, source_meta = load_checkpoint(source)
        for key, attr in (("arch", "arch"), ("backbone", "backbone"), ("input_size", "input_size")):
            if source_meta[key] != getattr(config, attr):
                logger.info("using %s=%s from %s", key, source_meta[key], Path(source).name)
                setattr(config, attr, source_meta[key])
        if config.resume:
            train_state = source_meta.get("train_state")
            if not isinstance(train_state, dict) or "epoch" not in train_state:
                raise CheckpointError(
                    source,
                    "cannot resume: no training state in this checkpoint (resume from the "
                    "'.last.pt' file of a run, or use --init to fine-tune from it)",
                )
            config.equalize = str(source_meta.get("equalize", config.equalize))
            resumed_meta = source_meta
        elif source_meta.get("equalize") != config.equalize:
            logger.info("using equalize=%s from %s", source_meta["equalize"], Path(source).name)
            config.equalize = str(source_meta["equalize"])

    # -- data ----------------------------------------------------------------------------
    records, report = load_records(
        config.images,
        config.labels,
        config.classes,
        workers=min(16, (os.cpu_count() or 1) * 2),
        labels_size=config.labels_size,
    )
    if train_state is not None and isinstance(train_state.get("split"), dict):
        split = train_state["split"]
        assignment = {pid: "val" for pid in split.get("val", [])}
        assignment.update({pid: "train" for pid in split.get("train", [])})
        train_records, val_records = apply_split(records, assignment)
    elif config.folds:
        train_records, val_records = kfold_records(records, config.folds, config.fold, config.seed)
    else:
        train_records, val_records = split_records(records, config.val_fraction, config.seed)
    if not train_records:
        raise DatasetError(config.labels, "no training images left after the validation split")

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
        train_records, val_records = train_ds.records, val_ds.records
        if not train_records:
            raise DatasetError(config.labels, "no training image could be decoded")
    _log_problems(report, config.out, main)
    if main:
        write_split(split_path, train_records, val_records)
        logger.info(
            "data: %d training image(s) (%d positive), %d validation (%d positive); %s; "
            "split saved to %s",
            len(train_records),
            positives_count(train_records),
            len(val_records),
            positives_count(val_records),
            report.summary(),
            split_path,
        )
        if not val_records:
            logger.warning("no validation images: the best checkpoint is the last one")

    workers = config.workers if config.workers is not None else _auto_workers(cache)
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
    if val_records:
        val_sampler: DistributedSampler[Any] = DistributedSampler(
            val_ds, num_replicas=ddp.world, rank=ddp.rank, shuffle=False
        )
        val_loader = DataLoader(
            val_ds, batch_size=config.batch_size, sampler=val_sampler, **loader_kw
        )

    # -- model and optimisation -------------------------------------------------------------
    torch.manual_seed(config.seed)
    model = build_model(
        config.arch,
        backbone=config.backbone,
        num_classes=len(CLASS_NAMES),
        min_size=config.input_size,
        backbone_weights=config.backbone_weights if init_state is None else None,
    )
    if init_state is not None:
        try:
            model.load_state_dict(init_state, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0][:160]
            raise CheckpointError(
                config.resume or config.init or "", f"weights do not fit the model ({first})"
            ) from None
    model.to(device)
    amp_dtype: torch.dtype | None = None
    scaler: torch.amp.GradScaler | None = None
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
        if config.amp:
            amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            if amp_dtype == torch.float16:
                scaler = torch.amp.GradScaler("cuda")
    if ddp.enabled:
        if device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            model = nn.parallel.DistributedDataParallel(model, device_ids=[ddp.local_rank])
        else:
            model = nn.parallel.DistributedDataParallel(model)

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer: torch.optim.Optimizer
    if config.optimizer == "adamw":
        optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    else:
        optimizer = torch.optim.SGD(
            params, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay
        )
    steps_per_epoch = max(1, len(train_loader))
    if config.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, config.max_steps_per_epoch)
    total_steps = steps_per_epoch * config.epochs
    warmup = (
        config.warmup_steps
        if config.warmup_steps is not None
        else min(500, max(1, total_steps // 20), steps_per_epoch)
    )
    schedule = _WarmupCosine(warmup, total_steps, cosine=config.scheduler == "cosine")
    lambda_lr = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    plateau = (
        torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.2, patience=4)
        if config.scheduler == "plateau"
        else None
    )

    def step_scheduler() -> None:
        # Under ReduceLROnPlateau the per-step schedule only does the warm-up: stepping it
        # later would overwrite the plateau's reductions.
        if plateau is None or lambda_lr.last_epoch < warmup:
            lambda_lr.step()

    start_epoch = 1
    best_value = -math.inf
    best_metrics: dict[str, float] = {}
    bad_epochs = 0
    history: list[dict[str, Any]] = []
    if train_state is not None:
        optimizer.load_state_dict(train_state["optimizer"])
        # The saved schedule knows the old run's length; keep this run's (e.g. more --epochs).
        planned = dict(schedule.__dict__)
        lambda_lr.load_state_dict(train_state["lr_schedule"])
        schedule.__dict__.update(planned)
        if plateau is not None and isinstance(train_state.get("plateau"), dict):
            plateau.load_state_dict(train_state["plateau"])
        if scaler is not None and isinstance(train_state.get("scaler"), dict):
            scaler.load_state_dict(train_state["scaler"])
        start_epoch = int(train_state["epoch"]) + 1
        best_value = float(train_state.get("best_value", -math.inf))
        bad_epochs = int(train_state.get("bad_epochs", 0))
        history = list(resumed_meta.get("training", {}).get("history", []))
        best_metrics = dict(train_state.get("best_metrics", {}))
        if main:
            logger.info("resuming %s at epoch %d of %d", config.resume, start_epoch, config.epochs)

    result = TrainResult(
        best=best_path, last=last_path, split=split_path, report=report, start_epoch=start_epoch
    )
    training_meta: dict[str, Any] = {
        "images": os.fspath(config.images),
        "labels": os.fspath(config.labels),
        "classes": config.classes,
        "train_images": len(train_records),
        "train_positives": positives_count(train_records),
        "val_images": len(val_records),
        "val_positives": positives_count(val_records),
        "split_file": split_path.name,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "lr": config.lr,
        "optimizer": config.optimizer,
        "scheduler": config.scheduler,
        "augment": config.augment,
        "jitter": config.jitter,
        "seed": config.seed,
        "folds": config.folds,
        "fold": config.fold if config.folds else None,
        "init": config.init,
        "resumed_from": config.resume,
        "device": str(device),
        "world_size": ddp.world,
        "amp": str(amp_dtype).replace("torch.", "") if amp_dtype else "off",
        "skipped": {
            "bad_rows": report.bad_rows,
            "missing_images": report.missing_images,
            "unreadable_images": report.unreadable_images,
            "bad_boxes": report.bad_boxes,
        },
    }
    truth = truth_of(val_records)
    split_ids = {
        "train": [r.image_id for r in train_records],
        "val": [r.image_id for r in val_records],
    }

    def meta_for(epoch: int, metrics: dict[str, float], threshold: float) -> dict[str, Any]:
        return {
            "arch": config.arch,
            "backbone": config.backbone,
            "classes": list(CLASS_NAMES),
            "num_classes": len(CLASS_NAMES),
            "input_size": config.input_size,
            "equalize": config.equalize,
            "threshold": threshold,
            "training": {**training_meta, "epoch": epoch, "history": history},
            "metrics": {**metrics, "epoch": epoch} if metrics else {},
            **({"description": config.description} if config.description else {}),
        }

    loop_start = time.perf_counter()
    epoch = start_epoch
    while epoch <= config.epochs:
        train_sampler.set_epoch(epoch)
        # Augmentation randomness (and DataLoader worker seeds) follow the epoch, so a resumed
        # run sees the same random stream as an uninterrupted one.
        torch.manual_seed(config.seed * 100_003 + epoch * 1009 + ddp.rank)
        stats: EpochStats = train_one_epoch(
            model,
            optimizer,
            train_loader,
            device,
            epoch=epoch,
            step_scheduler=step_scheduler,
            scaler=scaler,
            amp_dtype=amp_dtype,
            grad_clip=config.grad_clip,
            max_steps=config.max_steps_per_epoch,
            progress=config.progress and main,
            total=steps_per_epoch,
        )
        metrics: dict[str, float] = {}
        if val_loader is not None:
            preds = predict_dataset(
                _unwrap(model),
                val_loader,
                device,
                val_ds.records,
                config.input_size,
                amp_dtype=amp_dtype,
                progress=config.progress and main,
            )
            metrics = score(truth, _gather_preds(preds, ddp))
        if metrics and not math.isfinite(metrics.get("rsna_map", math.nan)):
            # NaN means no validation image could be scored: nothing to choose "best" by.
            raise FloatingPointError(
                f"the validation RSNA metric is not a number at epoch {epoch} "
                f"({int(metrics.get('positive_images', 0))} of {len(val_records)} validation "
                "image(s) have a box and the model predicted none); check that the labels' "
                "boxes fit the images (pixel space of converted PNGs) and that the validation "
                "set has positive images; no checkpoint was saved for this epoch"
            )
        value = selection_value(metrics) if metrics else float(epoch)
        improved = value > best_value + 1e-9
        if improved:
            best_value, best_metrics, bad_epochs = value, metrics, 0
        else:
            bad_epochs += 1
        if plateau is not None and lambda_lr.last_epoch >= warmup and metrics:
            plateau.step(value)
        images_per_s = stats.images_per_s * ddp.world
        history.append(
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
        if main:
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
            state = _state_dict(model)
            if improved:
                best_state = half_weights(state) if config.half_weights else state
                save_checkpoint(best_path, best_state, meta_for(epoch, metrics, threshold))
            last_meta = meta_for(epoch, metrics, threshold)
            last_meta["train_state"] = {
                "epoch": epoch,
                "optimizer": optimizer.state_dict(),
                "lr_schedule": lambda_lr.state_dict(),
                "plateau": plateau.state_dict() if plateau is not None else None,
                "scaler": scaler.state_dict() if scaler is not None else None,
                "best_value": best_value,
                "best_metrics": best_metrics,
                "bad_epochs": bad_epochs,
                "split": split_ids,
                "config": {k: v for k, v in asdict(config).items() if k != "progress"},
            }
            save_checkpoint(last_path, state, last_meta)
        result.epochs_run += 1
        if config.time_budget and result.epochs_run == 1:
            _fit_time_budget(config, schedule, steps_per_epoch, loop_start, epoch, ddp)
        epoch += 1
        if config.early_stop and metrics and bad_epochs >= config.early_stop:
            if main:
                logger.info(
                    "early stop: no better validation RSNA metric for %d epoch(s)", bad_epochs
                )
            result.stopped_early = True
            break
    if ddp.enabled:
        dist.barrier()
        if ddp.owned:
            dist.destroy_process_group()
    result.history = history
    result.best_metrics = best_metrics
    return result
