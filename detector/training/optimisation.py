"""Optimiser and learning-rate schedule of a training run.

AdamW (or SGD with momentum 0.9), a per-step linear warm-up followed by cosine decay to 1%
(:class:`WarmupCosine`), or, with ``--scheduler plateau``, the warm-up followed by
ReduceLROnPlateau on the validation RSNA metric (patience 4, factor 0.2).
:func:`fit_time_budget` shortens the run (and its cosine) to ``--time-budget`` after epoch one.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from detector.training.config import TrainConfig
from detector.training.distributed import DistContext, broadcast_float

logger = logging.getLogger(__name__)


class WarmupCosine:
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


@dataclass
class Optimisation:
    """The optimiser and its schedules, stepped by the epoch loop."""

    optimizer: torch.optim.Optimizer
    schedule: WarmupCosine
    lambda_lr: torch.optim.lr_scheduler.LambdaLR
    plateau: torch.optim.lr_scheduler.ReduceLROnPlateau | None
    warmup: int
    steps_per_epoch: int

    def step_scheduler(self) -> None:
        """Advance the per-step schedule (called after every optimiser step)."""
        # Under ReduceLROnPlateau the per-step schedule only does the warm-up: stepping it
        # later would overwrite the plateau's reductions.
        if self.plateau is None or self.lambda_lr.last_epoch < self.warmup:
            self.lambda_lr.step()

    def end_epoch(self, value: float, scored: bool) -> None:
        """Give the plateau scheduler the epoch's validation value (after the warm-up)."""
        if self.plateau is not None and self.lambda_lr.last_epoch >= self.warmup and scored:
            self.plateau.step(value)

    def state_dict(self) -> dict[str, Any]:
        """The ``optimizer`` / ``lr_schedule`` / ``plateau`` entries of a ``train_state``."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "lr_schedule": self.lambda_lr.state_dict(),
            "plateau": self.plateau.state_dict() if self.plateau is not None else None,
        }

    def load_state_dict(self, train_state: dict[str, Any]) -> None:
        """Continue from a saved ``train_state``, keeping this run's schedule length."""
        self.optimizer.load_state_dict(train_state["optimizer"])
        # The saved schedule knows the old run's length; keep this run's (e.g. more --epochs).
        planned = dict(self.schedule.__dict__)
        self.lambda_lr.load_state_dict(train_state["lr_schedule"])
        self.schedule.__dict__.update(planned)
        if self.plateau is not None and isinstance(train_state.get("plateau"), dict):
            self.plateau.load_state_dict(train_state["plateau"])


def build_optimisation(config: TrainConfig, model: nn.Module, batches: int) -> Optimisation:
    """The optimiser and schedules for ``config``, ``batches`` training batches per epoch."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer: torch.optim.Optimizer
    if config.optimizer == "adamw":
        optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    else:
        optimizer = torch.optim.SGD(
            params, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay
        )
    steps_per_epoch = max(1, batches)
    if config.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, config.max_steps_per_epoch)
    total_steps = steps_per_epoch * config.epochs
    warmup = (
        config.warmup_steps
        if config.warmup_steps is not None
        else min(500, max(1, total_steps // 20), steps_per_epoch)
    )
    schedule = WarmupCosine(warmup, total_steps, cosine=config.scheduler == "cosine")
    lambda_lr = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    plateau = (
        torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.2, patience=4)
        if config.scheduler == "plateau"
        else None
    )
    return Optimisation(optimizer, schedule, lambda_lr, plateau, warmup, steps_per_epoch)


def fit_time_budget(
    config: TrainConfig,
    optimisation: Optimisation,
    loop_start: float,
    epoch: int,
    ddp: DistContext,
) -> None:
    """After the first epoch: cut ``config.epochs`` to what fits in ``config.time_budget``
    seconds and shorten the cosine schedule to match (same decision on every rank)."""
    per_epoch = broadcast_float(time.perf_counter() - loop_start, ddp)
    budget = float(config.time_budget or 0)
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
        optimisation.schedule.total = max(1, optimisation.steps_per_epoch * fit)
