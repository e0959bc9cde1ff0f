"""One Improve job: reviewed images → holdout → fine-tune → score old and new → a new version.

:func:`run_improve` is Qt-free; ``pneumoview improve`` runs it in the foreground and the window
runs that command in a separate process (``--progress-json``). The new checkpoint is trained in
a work folder beside the output and moved under its final name only when everything is done,
so a cancel, a crash or a kill never leaves a partial ``.pt`` under that name.
"""

from __future__ import annotations

import math
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from detector.improve.holdout import DEFAULT_FRACTION, split_holdout
from detector.improve.progress import (
    CancelToken,
    ProgressCallback,
    ProgressEvent,
    TrainingClock,
)
from detector.improve.reviewed import reviewed_data
from detector.improve.versions import sha256_of, write_lineage
from detector.review.state import ReviewState
from detector.rsna.csv_write import write_labels
from detector.training.records import truth_of

#: Metric keys compared and shown side by side.
SHOWN_METRICS = ("rsna_map", "map50", "sensitivity", "specificity")


@dataclass
class ImproveRequest:
    """What to improve and how (the ``pneumoview improve`` options)."""

    session: str
    model: str
    out: str
    epochs: int = 5
    holdout_fraction: float = DEFAULT_FRACTION
    device: str = "auto"
    batch_size: int = 4
    lr: float = 1e-4
    seed: int = 0
    workers: int = 0

    def check(self) -> None:
        """Raise ``ValueError`` naming the first bad option."""
        if self.epochs < 1:
            raise ValueError("--epochs must be >= 1")
        if not 0.0 < self.holdout_fraction < 1.0:
            raise ValueError("--holdout-fraction must be in (0, 1)")
        if self.batch_size < 1:
            raise ValueError("--batch-size must be >= 1")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError("--lr must be > 0")


@dataclass
class ImproveResult:
    """What a job produced: the new version, its lineage and both models' holdout numbers."""

    checkpoint: Path
    lineage_file: Path
    lineage: dict[str, Any]
    before: dict[str, float]
    after: dict[str, float]
    better: bool
    problems: list[str] = field(default_factory=list)


def is_better(before: dict[str, float], after: dict[str, float]) -> bool:
    """The new model is better when its holdout RSNA metric is higher (a NaN never is)."""
    new, old = after.get("rsna_map", math.nan), before.get("rsna_map", math.nan)
    if not math.isfinite(new):
        return False
    return not math.isfinite(old) or new > old + 1e-9


def _clean(metrics: dict[str, float]) -> dict[str, float | None]:
    """JSON-safe metrics (NaN → null)."""
    return {k: (v if math.isfinite(v) else None) for k, v in metrics.items()}


def run_improve(
    request: ImproveRequest,
    state: ReviewState,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ImproveResult | None:
    """Fine-tune ``request.model`` on the session's reviewed images; write a new version.

    Under ``torchrun`` every rank prepares the same split and joins the training (as ``train``
    does); rank 0 alone scores the models, calibrates and writes, and the other ranks return
    ``None`` once training is over.

    Raises
    ------
    detector.improve.holdout.TooFewImagesError
        Too few usable reviewed images (the message says how many more are needed).
    detector.improve.progress.ImproveCancelled
        ``cancel`` was set; nothing was written under ``request.out``.
    PneumoViewError
        The checkpoint or an image cannot be used.
    FloatingPointError
        Training diverged.
    """
    request.check()
    cancel = cancel or CancelToken()
    rank = int(os.environ.get("RANK", "0") or 0)
    report = progress if progress is not None and rank == 0 else (lambda _e: None)
    out = Path(request.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".improve-{os.getpid()}-", dir=out.parent))
    try:
        return _run(request, state, work, report, cancel, rank)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(
    request: ImproveRequest,
    state: ReviewState,
    work: Path,
    report: ProgressCallback,
    cancel: CancelToken,
    rank: int = 0,
) -> ImproveResult | None:
    from detector.model.checkpoint import load_checkpoint, save_checkpoint
    from detector.training.calibration import calibrate
    from detector.training.config import TrainConfig
    from detector.training.trainer import train

    started = time.perf_counter()
    report(ProgressEvent("prepare", "reading the reviewed images"))
    parent_sha = sha256_of(request.model)
    load_checkpoint(request.model)  # a bad checkpoint stops here, before any work
    data = reviewed_data(state, work)
    problems = data.problems + list(data.report.problems)
    split = split_holdout(
        data.records, request.holdout_fraction, seed=request.seed, source=request.session
    )
    cancel.check()
    truth = truth_of(split.held_out)
    paths = {r.image_id: r.path for r in split.held_out}
    report(ProgressEvent("score-old", "scoring the current model on the holdout", fraction=0.02))
    t0 = time.perf_counter()
    old = (
        calibrate(request.model, truth, paths, device=request.device, batch_size=request.batch_size)
        if rank == 0
        else None
    )
    score_s = time.perf_counter() - t0
    cancel.check()
    train_labels = work / "train_labels.csv"
    write_labels(train_labels, {r.image_id: r.boxes for r in split.train}, with_score=False)
    config = TrainConfig(
        images=str(data.images_dir),
        labels=str(train_labels),
        out=str(work / "train" / "model.pt"),
        init=request.model,
        epochs=request.epochs,
        batch_size=request.batch_size,
        lr=request.lr,
        val_fraction=0.0,
        seed=request.seed,
        device=request.device,
        workers=request.workers,
        early_stop=0,
        progress=False,
        description=f"improved from {Path(request.model).name} on {Path(request.session).name}",
    )
    (work / "train").mkdir()
    clock = TrainingClock(request.epochs, score_s)

    def on_step(epoch: int, batch: int, batches: int | None) -> None:
        report(clock.step(epoch, batch, batches))
        cancel.check()

    result = train(config, on_step=on_step)
    if rank != 0 or old is None:
        return None  # torchrun: rank 0 scores, calibrates and writes
    cancel.check()
    report(ProgressEvent("score-new", "scoring the new model on the holdout", fraction=0.92))
    new = calibrate(result.best, truth, paths, device=request.device, batch_size=request.batch_size)
    cancel.check()
    before = {k: float(old.metrics.get(k, math.nan)) for k in SHOWN_METRICS}
    after = {k: float(new.metrics.get(k, math.nan)) for k in SHOWN_METRICS}
    better = is_better(before, after)
    lineage: dict[str, Any] = {
        "parent": os.path.abspath(request.model),
        "parent_sha256": parent_sha,
        "session": os.path.abspath(request.session),
        "trained_on": sorted(r.image_id for r in split.train),
        "held_out": sorted(r.image_id for r in split.held_out),
        "epochs": result.epochs_run,
        "holdout_fraction": request.holdout_fraction,
        "metrics_before": _clean(before),
        "metrics_after": _clean(after),
        "better": better,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": platform.node(),
        "device": "",
        "seconds": round(time.perf_counter() - started, 1),
        "skipped": problems,
    }
    report(ProgressEvent("write", "writing the new version", fraction=0.98))
    weights, meta = load_checkpoint(result.best)
    training = meta.get("training")
    lineage["device"] = str(training.get("device", "")) if isinstance(training, dict) else ""
    meta.update(new.meta_update())
    meta["calibration"].update({"images": len(truth), "split_file": None})
    meta["lineage"] = {k: v for k, v in lineage.items() if k not in ("trained_on", "held_out")}
    final = Path(request.out)
    staged = work / "final.pt"
    save_checkpoint(staged, weights, meta)
    cancel.check()
    lineage_file = write_lineage(final, lineage)
    os.replace(staged, final)
    return ImproveResult(final, lineage_file, lineage, before, after, better, problems)
