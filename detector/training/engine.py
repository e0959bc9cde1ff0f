"""One training epoch and one validation pass for torchvision detection models.

Kept free of file and command-line concerns (those live in :mod:`detector.training.trainer`), in the
manner of torchvision's ``references/detection/engine.py``: ``train_one_epoch`` steps the
per-step learning-rate schedule (warm-up), clips gradients, runs under autocast on CUDA and stops
on a non-finite loss; :func:`predict_dataset` runs under ``torch.inference_mode``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from detector.model.postprocess import to_detections
from detector.rsna.metrics import evaluate

logger = logging.getLogger(__name__)

#: ``patientId -> [(score, x, y, w, h), ...]`` in original pixels.
Preds = dict[str, list[tuple[float, float, float, float, float]]]


@dataclass
class EpochStats:
    """Training statistics of one epoch.

    Attributes
    ----------
    loss : float
        Mean total loss per step.
    parts : dict
        Mean of each loss term (``classification``, ``bbox_regression`` for RetinaNet...).
    images : int
    seconds : float
    lr : float
        Learning rate at the end of the epoch.
    """

    loss: float = math.nan
    parts: dict[str, float] = field(default_factory=dict)
    images: int = 0
    steps: int = 0
    seconds: float = 0.0
    lr: float = 0.0

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0


def to_model_images(images: Sequence[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    """Grey ``[1, H, W]`` float images -> the three identical channels the models expect."""
    return [img.to(device, non_blocking=True).expand(3, -1, -1) for img in images]


def to_model_targets(
    targets: Sequence[Mapping[str, Any]], device: torch.device
) -> list[dict[str, torch.Tensor]]:
    return [
        {
            "boxes": t["boxes"].to(device, non_blocking=True),
            "labels": t["labels"].to(device, non_blocking=True),
        }
        for t in targets
    ]


def autocast_for(
    device: torch.device, dtype: torch.dtype | None
) -> contextlib.AbstractContextManager[Any]:
    if device.type == "cuda" and dtype is not None:
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()


def train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: Iterable[tuple[list[torch.Tensor], list[dict[str, Any]]]],
    device: torch.device,
    *,
    epoch: int,
    step_scheduler: Callable[[], None] | None = None,
    scaler: torch.amp.GradScaler | None = None,
    amp_dtype: torch.dtype | None = None,
    grad_clip: float | None = 10.0,
    max_steps: int | None = None,
    progress: bool = False,
    total: int | None = None,
    on_step: Callable[[int, int, int | None], None] | None = None,
) -> EpochStats:
    """Train for one pass over ``loader``.

    Parameters
    ----------
    step_scheduler : callable, optional
        Called after every optimizer step (per-step warm-up / cosine schedule).
    scaler : GradScaler, optional
        For float16 autocast.
    amp_dtype : torch.dtype, optional
        Autocast dtype on CUDA (``None``: full precision).
    grad_clip : float, optional
        Max global gradient norm.
    max_steps : int, optional
        Stop after this many steps (benchmarks, tests).
    on_step : callable, optional
        ``on_step(epoch, steps_done, total)`` after every step (progress, ETA); an exception
        it raises (a cancel) stops training and propagates.

    Raises
    ------
    FloatingPointError
        The loss became NaN or infinite.
    """
    model.train()
    sums: dict[str, float] = {}
    total_loss = 0.0
    stats = EpochStats()
    bar = None
    iterator: Iterable[Any] = loader
    if progress:
        from tqdm import tqdm

        bar = tqdm(
            loader,
            total=total,
            desc=f"epoch {epoch}",
            unit="batch",
            file=sys.stderr,
            leave=False,
            dynamic_ncols=True,
        )
        iterator = bar
    start = time.perf_counter()
    try:
        for step, (images, targets) in enumerate(iterator):
            if max_steps is not None and step >= max_steps:
                break
            imgs = to_model_images(images, device)
            tgts = to_model_targets(targets, device)
            with autocast_for(device, amp_dtype):
                loss_dict = model(imgs, tgts)
            losses = sum(loss_dict.values())
            assert isinstance(losses, torch.Tensor)
            value = float(losses.detach())
            if not math.isfinite(value):
                parts = ", ".join(f"{k}={float(v):.4g}" for k, v in loss_dict.items())
                raise FloatingPointError(
                    f"loss is {value} at epoch {epoch}, step {step + 1} ({parts}); "
                    "try a lower --lr or --augment none"
                )
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(losses).backward()
                if grad_clip:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                scaler.step(optimizer)
                scaler.update()
            else:
                losses.backward()
                if grad_clip:
                    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                optimizer.step()
            if step_scheduler is not None:
                step_scheduler()
            total_loss += value
            for k, v in loss_dict.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            stats.steps += 1
            stats.images += len(images)
            if bar is not None:
                bar.set_postfix(loss=f"{total_loss / stats.steps:.4f}", refresh=False)
            if on_step is not None:
                on_step(epoch, stats.steps, total)
    finally:
        if bar is not None:
            bar.close()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    stats.seconds = time.perf_counter() - start
    if stats.steps:
        stats.loss = total_loss / stats.steps
        stats.parts = {k: v / stats.steps for k, v in sums.items()}
    stats.lr = float(optimizer.param_groups[0]["lr"])
    return stats


@torch.inference_mode()
def predict_dataset(
    model: nn.Module,
    loader: Iterable[tuple[list[torch.Tensor], list[dict[str, Any]]]],
    device: torch.device,
    records: Sequence[Any],
    input_size: int,
    *,
    amp_dtype: torch.dtype | None = None,
    progress: bool = False,
) -> Preds:
    """Run the model over a (validation) loader; boxes come back in original pixels.

    ``records[target["index"]]`` gives each image's id and size (``image_id``, ``height``,
    ``width``, see :class:`detector.training.records.ImageRecord`).
    """
    was_training = model.training
    model.eval()
    preds: Preds = {}
    iterator: Iterable[Any] = loader
    if progress:
        from tqdm import tqdm

        iterator = tqdm(loader, desc="validate", unit="batch", file=sys.stderr, leave=False)
    try:
        for images, targets in iterator:
            with autocast_for(device, amp_dtype):
                outputs = model(to_model_images(images, device))
            for out, tgt in zip(outputs, targets, strict=True):
                rec = records[int(tgt["index"])]
                scale = input_size / max(rec.height, rec.width)
                dets = to_detections(
                    out["boxes"].float(),
                    out["scores"].float(),
                    out["labels"],
                    scale=scale,
                    image_size=(rec.height, rec.width),
                )
                preds[rec.image_id] = [(d.score, *d.box_xywh) for d in dets]
    finally:
        model.train(was_training)
    return preds


#: Metric keys kept in checkpoints and logs.
METRIC_KEYS = (
    "rsna_map",
    "map50",
    "precision",
    "recall",
    "f1",
    "sensitivity",
    "specificity",
    "threshold",
    "images",
    "positive_images",
    "truth_boxes",
    "predictions",
)


def score(truth: Mapping[str, Sequence[Sequence[float]]], preds: Preds) -> dict[str, float]:
    """Validation metrics at the threshold that maximises the RSNA metric.

    Returns
    -------
    dict
        :data:`METRIC_KEYS`; ``threshold`` is the best of the 0.05..0.95 sweep chosen by
        :func:`detector.rsna.metrics.best_row` (the middle of the widest best plateau, the rule
        ``eval`` uses too; 0.5 when the metric is undefined everywhere) and every other value
        is measured at it.
    """
    first = evaluate(truth, preds, threshold=0.5)
    best = first["best_threshold"]
    threshold = float(best) if isinstance(best, float) and math.isfinite(best) else 0.5
    at = evaluate(truth, preds, threshold=threshold)
    return {k: float(at[k]) for k in METRIC_KEYS}


def selection_value(metrics: Mapping[str, float]) -> float:
    """The value early stopping and "best" checkpoints follow: RSNA metric, -1 when undefined."""
    value = metrics.get("rsna_map", math.nan)
    return float(value) if math.isfinite(value) else -1.0
