"""The options of a training run (:class:`TrainConfig`), what it produced (:class:`TrainResult`)
and the names of its output files (:func:`sibling`)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detector.imaging.render import EQUALIZE_CHOICES
from detector.model.build import ARCHES, BACKBONES
from detector.model.pretrained import PACKAGED, available
from detector.training.records import DataReport
from detector.training.transforms import AUGMENT_LEVELS
from detector.types import BN_MODES, PRETRAINED_CHOICES

SCHEDULERS = ("cosine", "plateau")

OPTIMIZERS = ("adamw", "sgd")


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
    pretrained: str = "auto"
    bn: str = "frozen"
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

    def uses_imagenet(self) -> bool:
        """Whether the trunk starts from packaged ImageNet weights (not on --resume/--init)."""
        if self.resume or self.init or self.backbone_weights:
            return False
        if self.pretrained == "auto":
            return self.backbone in PACKAGED and available(self.backbone)
        return self.pretrained == "imagenet"

    def check(self) -> None:
        """Raise ``ValueError`` naming the first bad option."""
        if self.arch not in ARCHES:
            raise ValueError(f"--arch must be one of {', '.join(ARCHES)}, not {self.arch!r}")
        if self.backbone not in BACKBONES:
            raise ValueError(
                f"--backbone must be one of {', '.join(BACKBONES)}, not {self.backbone!r}"
            )
        if self.pretrained not in PRETRAINED_CHOICES:
            raise ValueError(f"--pretrained must be one of {', '.join(PRETRAINED_CHOICES)}")
        if self.bn not in BN_MODES:
            raise ValueError(f"--bn must be one of {', '.join(BN_MODES)}")
        if self.pretrained == "imagenet" and self.backbone not in PACKAGED:
            raise ValueError(
                f"--pretrained imagenet: no packaged ImageNet weights for {self.backbone} "
                f"(packaged: {', '.join(PACKAGED)}); use --backbone-weights FILE"
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
