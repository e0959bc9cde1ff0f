"""``pneumoview improve SESSION --model CKPT [--out NEW.pt]``: fine-tune on a review session.

Trains the model further on the session's reviewed images (their final boxes: what
``export --format labels`` writes), keeping a patient-level holdout out of training (default 20%,
at least 10 images), scores the old and the new model on it (RSNA metric, mAP@0.5, sensitivity,
specificity, each with its gate chosen on the holdout), calibrates the new model's gate there
and writes the new checkpoint plus its lineage JSON (``<out stem>.json``). Without ``--out`` the
new version goes beside the session: ``<session>.models/<base>-v<N>.pt``. Prints both models'
numbers side by side. Exit 0 when the new model is better, 1 when it is not (the file is still
written, marked "better": false) or the job could not run, 2 on bad arguments. The session is
only read. ``--progress-json`` prints one JSON object per line on stdout (the window's
protocol); ``--cancel-file`` stops the job when that file appears (nothing is written).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any

from detector.cli import UsageError

NAME = "improve"
HELP = "fine-tune a model on a review session's reviewed images; a new version with lineage"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", help="review session file written by the viewer")
    parser.add_argument("--model", required=True, help="the checkpoint to improve")
    parser.add_argument(
        "--out", help="new checkpoint (default: <session>.models/<base>-v<N>.pt, the next N)"
    )
    parser.add_argument("--epochs", type=int, default=5, help="fine-tuning epochs (default 5)")
    parser.add_argument(
        "--holdout-fraction",
        type=float,
        default=0.2,
        help="share of reviewed images kept out to compare the models (default 0.2, >= 10)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-4, help="peak learning rate")
    parser.add_argument("--seed", type=int, default=0, help="holdout, augmentation")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    parser.add_argument("--report", help="also write the lineage and both models' numbers here")
    parser.add_argument(
        "--progress-json", action="store_true", help="JSON progress lines on stdout"
    )
    parser.add_argument("--cancel-file", help="stop (writing nothing) when this file appears")


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, allow_nan=False) + "\n")
    sys.stdout.flush()


def _fmt(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else "n/a"


def comparison_lines(before: dict[str, float], after: dict[str, float]) -> list[str]:
    """``metric  before  after`` rows (the holdout numbers side by side)."""
    names = {
        "rsna_map": "RSNA metric",
        "map50": "mAP@0.5",
        "sensitivity": "sensitivity",
        "specificity": "specificity",
    }
    rows = [f"{'':<12} {'current':>8} {'new':>8}"]
    for key, label in names.items():
        rows.append(
            f"{label:<12} {_fmt(before.get(key, math.nan)):>8} {_fmt(after.get(key, math.nan)):>8}"
        )
    return rows


def run(args: argparse.Namespace) -> int:
    from detector.errors import PneumoViewError
    from detector.files.output import OutputError, check_output_file, remove_stale_temp_files
    from detector.improve.job import ImproveRequest, run_improve
    from detector.improve.progress import CancelToken, ImproveCancelled, ProgressEvent
    from detector.improve.versions import next_version_path
    from detector.review.store import SessionError, open_session

    if not os.path.isfile(args.session):
        sys.stderr.write(f"pneumoview improve: error: {args.session}: session file not found\n")
        return 1
    out = args.out or os.fspath(next_version_path(args.session, args.model))
    request = ImproveRequest(
        session=args.session,
        model=args.model,
        out=out,
        epochs=args.epochs,
        holdout_fraction=args.holdout_fraction,
        device=args.device,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        workers=args.workers,
    )
    try:
        request.check()
        if args.workers < 0:
            raise ValueError("--workers must be >= 0")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    try:
        check_output_file(out)
    except OutputError as err:
        raise UsageError(f"--out {err}") from None
    remove_stale_temp_files(os.path.dirname(os.path.abspath(out)))

    def progress(event: ProgressEvent) -> None:
        if args.progress_json:
            _emit(event.as_json())

    try:
        state, store = open_session(args.session, create=False, read_only=True)
    except SessionError as err:
        sys.stderr.write(f"pneumoview improve: error: {err}\n")
        return 1
    try:
        result = run_improve(
            request, state, progress=progress, cancel=CancelToken(args.cancel_file)
        )
    except ImproveCancelled:
        if args.progress_json:
            _emit({"event": "cancelled"})
        sys.stderr.write("pneumoview improve: cancelled; nothing was written\n")
        return 1
    except (PneumoViewError, FloatingPointError) as exc:
        if args.progress_json:
            _emit({"event": "error", "message": str(exc)})
        sys.stderr.write(f"pneumoview improve: error: {exc}\n")
        return 1
    finally:
        store.close()
    if result is None:
        return 0  # another torchrun rank: rank 0 reports and writes
    if args.report:
        from detector.files.output import atomic_write_text

        atomic_write_text(args.report, json.dumps(result.lineage, indent=1) + "\n")
    verdict = "better" if result.better else "not better"
    lines = [
        f"holdout: {len(result.lineage['held_out'])} image(s), trained on "
        f"{len(result.lineage['trained_on'])} for {result.lineage['epochs']} epoch(s)",
        *comparison_lines(result.before, result.after),
        f"the new model is {verdict}; wrote {result.checkpoint} and {result.lineage_file}",
    ]
    for line in result.problems:
        sys.stderr.write(f"pneumoview improve: warning: {line}\n")
    if args.progress_json:
        _emit(
            {
                "event": "done",
                "checkpoint": os.fspath(result.checkpoint),
                "lineage_file": os.fspath(result.lineage_file),
                "better": result.better,
                "before": {k: (v if math.isfinite(v) else None) for k, v in result.before.items()},
                "after": {k: (v if math.isfinite(v) else None) for k, v in result.after.items()},
            }
        )
        sys.stderr.write("\n".join(lines) + "\n")
    else:
        sys.stdout.write("\n".join(lines) + "\n")
    return 0 if result.better else 1
