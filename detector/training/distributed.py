"""Where a training run computes: device, DistributedDataParallel (``torchrun``) and autocast.

:func:`init_distributed` reads ``WORLD_SIZE`` / ``RANK`` / ``LOCAL_RANK`` (one process and the
requested device without them); :func:`place_model` moves the model to its device and sets up
channels_last + autocast (bfloat16, or float16 with a gradient scaler) on CUDA and the DDP
wrapper; :func:`gather_preds` merges every rank's validation predictions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from detector.training.engine import Preds


@dataclass
class DistContext:
    """This process's place in a (possibly one-process) distributed run."""

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


@dataclass
class Precision:
    """Autocast setting of a run: ``amp_dtype`` ``None`` is float32; ``scaler`` only for float16."""

    amp_dtype: torch.dtype | None = None
    scaler: torch.amp.GradScaler | None = None

    def describe(self) -> str:
        """``"bfloat16"``, ``"float16"`` or ``"off"`` (the checkpoint's ``training.amp``)."""
        return str(self.amp_dtype).replace("torch.", "") if self.amp_dtype else "off"


def init_distributed(device_request: str) -> tuple[DistContext, torch.device]:
    """Join the ``torchrun`` process group if ``WORLD_SIZE > 1``; return this process's device."""
    from detector.model.inference import resolve_device

    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return DistContext(), resolve_device(device_request)
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
    return DistContext(world, rank, local_rank, owned), device


def finish_distributed(ddp: DistContext) -> None:
    """Wait for every rank, and end the process group if this run started it."""
    if ddp.enabled:
        dist.barrier()
        if ddp.owned:
            dist.destroy_process_group()


def place_model(
    model: nn.Module, device: torch.device, ddp: DistContext, *, amp: bool
) -> tuple[nn.Module, Precision]:
    """Move ``model`` to ``device``; on CUDA channels_last and (if ``amp``) autocast; DDP wrap.

    Returns
    -------
    model : nn.Module
        ``model`` itself, or its DistributedDataParallel wrapper (see :func:`unwrap`).
    precision : Precision
    """
    model.to(device)
    precision = Precision()
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
        if amp:
            precision.amp_dtype = (
                torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            )
            if precision.amp_dtype == torch.float16:
                precision.scaler = torch.amp.GradScaler("cuda")
    if ddp.enabled:
        if device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            model = nn.parallel.DistributedDataParallel(model, device_ids=[ddp.local_rank])
        else:
            model = nn.parallel.DistributedDataParallel(model)
    return model, precision


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (``model`` itself otherwise)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def gather_preds(preds: Preds, ddp: DistContext) -> Preds:
    """Every rank's validation predictions, merged (``preds`` itself in a one-process run)."""
    if not ddp.enabled:
        return preds
    parts: list[Any] = [None] * ddp.world
    dist.all_gather_object(parts, preds)
    merged: Preds = {}
    for part in parts:
        merged.update(part or {})
    return merged


def broadcast_float(value: float, ddp: DistContext) -> float:
    """Rank 0's ``value`` on every rank (``value`` itself in a one-process run)."""
    if not ddp.enabled:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return float(box[0])
