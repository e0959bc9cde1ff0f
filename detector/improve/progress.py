"""Progress events, ETA and cancel of an Improve job (Qt-free; the window reads them as JSON)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: Stages in the order a job goes through them.
STAGES = ("prepare", "score-old", "train", "score-new", "write")


class ImproveCancelled(Exception):
    """The job was cancelled (nothing was written under the final name)."""


@dataclass
class ProgressEvent:
    """One progress report.

    Attributes
    ----------
    stage : str
        One of :data:`STAGES`.
    message : str
        What is happening, in words.
    epoch, epochs : int
        Training epoch (1-based) and their number (0 outside training).
    batch, batches : int
        Step within the epoch and steps per epoch (0 when unknown).
    fraction : float
        Share of the whole job done, 0..1.
    eta_s : float or None
        Seconds left (None until a training step has been timed).
    """

    stage: str
    message: str
    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    batches: int = 0
    fraction: float = 0.0
    eta_s: float | None = None

    def as_json(self) -> dict[str, Any]:
        """The event as plain data (one line of ``improve --progress-json``)."""
        return {"event": "progress", **asdict(self)}


ProgressCallback = Callable[[ProgressEvent], None]


class CancelToken:
    """A cancel that a thread (:class:`threading.Event`) or another process (a flag file) sets.

    Parameters
    ----------
    flag_file : path, optional
        The job stops when this file exists (the window creates it; a process boundary).
    """

    def __init__(self, flag_file: str | os.PathLike[str] | None = None) -> None:
        self.event = threading.Event()
        self.flag_file = Path(flag_file) if flag_file else None

    def cancel(self) -> None:
        self.event.set()

    @property
    def cancelled(self) -> bool:
        if self.event.is_set():
            return True
        if self.flag_file is not None and self.flag_file.exists():
            self.event.set()
            return True
        return False

    def check(self) -> None:
        """Raise :class:`ImproveCancelled` when cancelled."""
        if self.cancelled:
            raise ImproveCancelled("cancelled")


class TrainingClock:
    """ETA over the training steps: seconds per step so far times the steps left.

    Scoring the new model afterwards takes about as long as scoring the old one did, which
    is added once known (``score_s``).
    """

    def __init__(self, epochs: int, score_s: float = 0.0) -> None:
        self.epochs = epochs
        self.score_s = score_s
        self.start = time.perf_counter()
        self.steps = 0

    def step(self, epoch: int, batch: int, batches: int | None) -> ProgressEvent:
        """The event after step ``batch`` of ``epoch``."""
        self.steps += 1
        per_epoch = max(int(batches or batch), batch, 1)
        total = per_epoch * self.epochs
        done = (epoch - 1) * per_epoch + batch
        elapsed = time.perf_counter() - self.start
        eta = elapsed / max(self.steps, 1) * max(total - done, 0) + self.score_s
        # Training is the middle 80% of the bar: scoring before and after the rest.
        fraction = 0.1 + 0.8 * min(done / total, 1.0)
        return ProgressEvent(
            "train",
            f"training epoch {epoch}/{self.epochs}, batch {batch}/{per_epoch}",
            epoch=epoch,
            epochs=self.epochs,
            batch=batch,
            batches=per_epoch,
            fraction=round(fraction, 4),
            eta_s=round(eta, 1),
        )
