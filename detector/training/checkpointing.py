"""A training run's checkpoints: where it starts (``--resume`` / ``--init``), what it saves.

:func:`read_start` loads the checkpoint a run starts from and takes its architecture, backbone,
input size and equalisation; :func:`load_weights` puts its weights into the new model;
:class:`Progress` is the epoch loop's bookkeeping that a ``.last.pt`` file carries in its
``train_state`` (so ``--resume`` continues where the run stopped); :func:`save_epoch` writes the
best checkpoint (when the epoch improved; its ``threshold`` is the best validation threshold so
``detect`` uses it) and ``<out stem>.last.pt`` with that ``train_state``.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from detector.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from detector.model.pretrained import provenance, weights_file
from detector.training.config import TrainConfig
from detector.training.distributed import DistContext, Precision, unwrap
from detector.training.optimisation import Optimisation
from detector.training.records import DataReport, ImageRecord, positives_count
from detector.types import BN_MODES, CLASS_NAMES

logger = logging.getLogger(__name__)


@dataclass
class Start:
    """The checkpoint a run starts from (all empty for a run from scratch).

    Attributes
    ----------
    weights : dict or None
        Its state dict (``--resume`` or ``--init``).
    train_state : dict or None
        Its ``train_state`` (``--resume`` only).
    meta : dict
        Its metadata (``--resume`` only).
    """

    weights: dict[str, torch.Tensor] | None = None
    train_state: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def split(self) -> dict[str, Any] | None:
        """The ``{"train": [...], "val": [...]}`` ids of the run being resumed, if saved."""
        if self.train_state is not None and isinstance(self.train_state.get("split"), dict):
            return self.train_state["split"]
        return None


def read_start(config: TrainConfig) -> Start:
    """Load ``config.resume`` or ``config.init`` and take its settings into ``config``.

    Raises
    ------
    detector.model.checkpoint.CheckpointError
        The file cannot be read, or ``--resume`` names a checkpoint without training state.
    """
    if not (config.resume or config.init):
        return Start()
    source = config.resume or config.init
    assert source is not None
    weights, source_meta = load_checkpoint(source)
    for key, attr in (("arch", "arch"), ("backbone", "backbone"), ("input_size", "input_size")):
        if source_meta[key] != getattr(config, attr):
            logger.info("using %s=%s from %s", key, source_meta[key], Path(source).name)
            setattr(config, attr, source_meta[key])
    source_training = source_meta.get("training")
    source_bn = source_training.get("bn") if isinstance(source_training, dict) else None
    if source_bn in BN_MODES and source_bn != config.bn:
        logger.info("using bn=%s from %s", source_bn, Path(source).name)
        config.bn = str(source_bn)
    if not config.resume:
        if source_meta.get("equalize") != config.equalize:
            logger.info("using equalize=%s from %s", source_meta["equalize"], Path(source).name)
            config.equalize = str(source_meta["equalize"])
        return Start(weights)
    train_state = source_meta.get("train_state")
    if not isinstance(train_state, dict) or "epoch" not in train_state:
        raise CheckpointError(
            source,
            "cannot resume: no training state in this checkpoint (resume from the "
            "'.last.pt' file of a run, or use --init to fine-tune from it)",
        )
    config.equalize = str(source_meta.get("equalize", config.equalize))
    return Start(weights, train_state, source_meta)


def load_weights(model: nn.Module, start: Start, config: TrainConfig) -> None:
    """Put the start checkpoint's weights into ``model`` (nothing for a run from scratch).

    Raises
    ------
    detector.model.checkpoint.CheckpointError
        The weights do not fit the model.
    """
    if start.weights is None:
        return
    try:
        model.load_state_dict(start.weights, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0][:160]
        raise CheckpointError(
            config.resume or config.init or "", f"weights do not fit the model ({first})"
        ) from None


@dataclass
class Progress:
    """The epoch loop's bookkeeping, saved in ``train_state`` and restored by ``--resume``."""

    start_epoch: int = 1
    best_value: float = -math.inf
    best_metrics: dict[str, float] = field(default_factory=dict)
    bad_epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def resume_progress(
    start: Start, optimisation: Optimisation, precision: Precision, config: TrainConfig, main: bool
) -> Progress:
    """Restore the optimiser, schedules, scaler and loop bookkeeping of the run being resumed."""
    train_state = start.train_state
    if train_state is None:
        return Progress()
    optimisation.load_state_dict(train_state)
    if precision.scaler is not None and isinstance(train_state.get("scaler"), dict):
        precision.scaler.load_state_dict(train_state["scaler"])
    progress = Progress(
        start_epoch=int(train_state["epoch"]) + 1,
        best_value=float(train_state.get("best_value", -math.inf)),
        bad_epochs=int(train_state.get("bad_epochs", 0)),
        history=list(start.meta.get("training", {}).get("history", [])),
        best_metrics=dict(train_state.get("best_metrics", {})),
    )
    if main:
        logger.info(
            "resuming %s at epoch %d of %d", config.resume, progress.start_epoch, config.epochs
        )
    return progress


def training_meta(
    config: TrainConfig,
    train_records: list[ImageRecord],
    val_records: list[ImageRecord],
    report: DataReport,
    split_path: Path,
    device: torch.device,
    ddp: DistContext,
    precision: Precision,
) -> dict[str, Any]:
    """The checkpoint's ``training`` record, less the per-epoch ``epoch`` and ``history``."""
    return {
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
        "pretrained": pretrained_record(config),
        "bn": config.bn,
        "jitter": config.jitter,
        "seed": config.seed,
        "folds": config.folds,
        "fold": config.fold if config.folds else None,
        "init": config.init,
        "resumed_from": config.resume,
        "device": str(device),
        "world_size": ddp.world,
        "amp": precision.describe(),
        "skipped": {
            "bad_rows": report.bad_rows,
            "missing_images": report.missing_images,
            "unreadable_images": report.unreadable_images,
            "bad_boxes": report.bad_boxes,
        },
    }


def pretrained_record(config: TrainConfig) -> dict[str, str] | str:
    """Where the trunk's weights came from: the package's provenance, a file, or ``"none"``."""
    if config.uses_imagenet():
        return provenance(config.backbone, weights_file(config.backbone))
    if config.backbone_weights:
        return {"weights": "imagenet", "file": Path(config.backbone_weights).name}
    if config.init or config.resume:
        return "inherited"
    return "none"


def checkpoint_meta(
    config: TrainConfig,
    training: dict[str, Any],
    history: list[dict[str, Any]],
    epoch: int,
    metrics: dict[str, float],
    threshold: float,
) -> dict[str, Any]:
    """The metadata of a checkpoint saved after ``epoch``."""
    return {
        "arch": config.arch,
        "backbone": config.backbone,
        "classes": list(CLASS_NAMES),
        "num_classes": len(CLASS_NAMES),
        "input_size": config.input_size,
        "equalize": config.equalize,
        "threshold": threshold,
        "training": {**training, "epoch": epoch, "history": history},
        "metrics": {**metrics, "epoch": epoch} if metrics else {},
        **({"description": config.description} if config.description else {}),
    }


def half_weights(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Store convolution/linear weights as float16 (half the file; loads into float32 models).

    One-dimensional tensors (biases, normalisation weights and running statistics) stay float32.
    """
    return {k: v.half() if v.is_floating_point() and v.ndim >= 2 else v for k, v in state.items()}


def model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The (unwrapped) model's weights, detached, on the CPU, contiguous."""
    return {k: v.detach().cpu().contiguous() for k, v in unwrap(model).state_dict().items()}


def save_epoch(
    best_path: Path,
    last_path: Path,
    model: nn.Module,
    meta: dict[str, Any],
    *,
    improved: bool,
    half: bool,
    train_state: dict[str, Any],
) -> None:
    """Write the best checkpoint if ``improved``, and the last one with ``train_state``.

    Parameters
    ----------
    meta : dict
        :func:`checkpoint_meta` of the epoch (not modified).
    half : bool
        Store the best checkpoint's matrices as float16 (:func:`half_weights`).
    """
    state = model_state(model)
    if improved:
        best_state = half_weights(state) if half else state
        save_checkpoint(best_path, best_state, meta)
    save_checkpoint(last_path, state, {**meta, "train_state": train_state})


def train_state(
    epoch: int,
    optimisation: Optimisation,
    precision: Precision,
    progress: Progress,
    split_ids: dict[str, list[str]],
    config: TrainConfig,
) -> dict[str, Any]:
    """What ``--resume`` needs to continue after ``epoch`` (stored in the last checkpoint)."""
    return {
        "epoch": epoch,
        **optimisation.state_dict(),
        "scaler": precision.scaler.state_dict() if precision.scaler is not None else None,
        "best_value": progress.best_value,
        "best_metrics": progress.best_metrics,
        "bad_epochs": progress.bad_epochs,
        "split": split_ids,
        "config": {k: v for k, v in asdict(config).items() if k != "progress"},
    }
