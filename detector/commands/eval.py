"""``pneumoview eval --truth labels.csv --pred FILE.csv``: score predictions against labels.

Prints the RSNA challenge metric, mAP@0.5, box-level precision/recall/F1 and image-level
sensitivity/specificity at the threshold, plus a threshold sweep (``--json``: one JSON object).
``--plot DIR`` writes ``pr_curve.png`` and ``metrics_vs_threshold.png``. The predictions may be
a submission CSV or a labels CSV with a ``score`` column. Malformed rows are reported with their
line number and skipped (exit code 1); the evaluation still runs on the rest.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

from detector.cli import UsageError

NAME = "eval"
HELP = "score predictions (submission or labels+score CSV) against an RSNA labels CSV"
SHOWN_PROBLEMS = 20

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--truth", required=True, help="RSNA labels CSV (patientId,x,y,width,height,Target)"
    )
    parser.add_argument("--pred", required=True, help="predictions: submission or labels+score CSV")
    parser.add_argument(
        "--threshold", type=float, default=0.5, help="score threshold for the metrics (default 0.5)"
    )
    parser.add_argument("--plot", metavar="DIR", default=None, help="write PNG plots to DIR")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--all-truth",
        action="store_true",
        help="score every image of the truth file; images with no prediction row count as "
        "'no findings' (default: only images that have a prediction row, i.e. the ones the "
        "detector was run on)",
    )


def _clean(value: Any) -> Any:
    """NaN -> None so that the JSON is standard."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def write_plots(
    folder: str | Path, truth: dict[str, Any], preds: dict[str, Any], result: dict[str, Any]
) -> list[Path]:
    """``pr_curve.png`` (box level, IoU 0.5) and ``metrics_vs_threshold.png``, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from detector.fileio import atomic_write_bytes
    from detector.metrics import precision_recall_curve

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []

    _scores, precision, recall = precision_recall_curve(truth, preds)
    fig = Figure(figsize=(5, 4.5), dpi=100)
    ax = fig.add_subplot()
    if precision.size:
        ax.plot(recall, precision, drawstyle="steps-post", color="tab:blue")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"Precision-recall, IoU 0.5 (AP {_fmt(result['map50'], 3)})")
    ax.grid(alpha=0.3)
    written.append(_save(fig, out / "pr_curve.png", atomic_write_bytes))

    sweep = result["sweep"]
    fig = Figure(figsize=(6, 4.5), dpi=100)
    ax = fig.add_subplot()
    xs = [row["threshold"] for row in sweep]
    for key in ("rsna_map", "precision", "recall", "f1", "sensitivity", "specificity"):
        ax.plot(xs, [row[key] for row in sweep], marker=".", label=key)
    ax.axvline(result["threshold"], color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("score threshold")
    ax.set_ylabel("value")
    ax.set_ylim(0, 1.02)
    ax.set_title("Metrics vs. threshold")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    written.append(_save(fig, out / "metrics_vs_threshold.png", atomic_write_bytes))
    return written


def _save(fig: Any, path: Path, writer: Any) -> Path:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    writer(path, buf.getvalue())
    return path


def run(args: argparse.Namespace) -> int:
    from detector.labels import LabelsError, read_labels, read_predictions
    from detector.metrics import evaluate

    if not 0.0 <= args.threshold <= 1.0:
        raise UsageError("--threshold must be in [0, 1]")
    try:
        truth_file = read_labels(args.truth)
        preds = read_predictions(args.pred)
    except LabelsError as err:
        sys.stderr.write(f"pneumoview eval: {err}\n")
        return 1
    problems = truth_file.problems + preds.problems
    n_problems = truth_file.skipped + preds.skipped
    for line in problems[:SHOWN_PROBLEMS]:
        sys.stderr.write(f"{line}\n")
    if n_problems > SHOWN_PROBLEMS:
        sys.stderr.write(f"... and {n_problems - SHOWN_PROBLEMS} more problem row(s)\n")
    truth = truth_file.boxes
    if not truth:
        sys.stderr.write(f"pneumoview eval: {Path(args.truth).name}: no usable label rows\n")
        return 1
    extra = [pid for pid in preds if pid not in truth]
    absent = [pid for pid in truth if pid not in preds]
    if extra:
        log.warning("%d predicted image(s) are not in the truth file (ignored)", len(extra))
    if absent and args.all_truth:
        log.warning("%d truth image(s) have no prediction row (scored as no findings)", len(absent))
    elif absent:
        log.warning(
            "%d truth image(s) have no prediction row and are not scored (--all-truth scores "
            "them as no findings)",
            len(absent),
        )
        truth = {pid: boxes for pid, boxes in truth.items() if pid in preds}
        if not truth:
            sys.stderr.write(
                f"pneumoview eval: {Path(args.pred).name}: no prediction row matches an image "
                f"of {Path(args.truth).name}\n"
            )
            return 1

    result = evaluate(truth, preds, threshold=args.threshold)
    result["skipped_rows"] = n_problems
    result["unmatched_predictions"] = len(extra)
    result["missing_predictions"] = len(absent)
    result["prediction_format"] = preds.format
    if args.plot:
        result["plots"] = [str(p) for p in write_plots(args.plot, truth, preds, result)]

    if args.json:
        json.dump(_clean(result), sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 1 if n_problems else 0

    out = sys.stdout
    out.write(
        f"truth: {args.truth} ({result['images']} images, {result['positive_images']} with "
        f"findings, {result['truth_boxes']} boxes)\n"
    )
    out.write(f"pred:  {args.pred} ({preds.format} format)\n\n")
    out.write(f"at threshold {args.threshold:g} ({result['predictions']} boxes):\n")
    rows = [
        ("RSNA metric (mAP @ IoU 0.40-0.75)", result["rsna_map"]),
        ("mAP@0.5 (all scores)", result["map50"]),
        ("precision (box, IoU 0.5)", result["precision"]),
        ("recall (box, IoU 0.5)", result["recall"]),
        ("F1 (box, IoU 0.5)", result["f1"]),
        ("sensitivity (image)", result["sensitivity"]),
        ("specificity (image)", result["specificity"]),
    ]
    width = max(len(name) for name, _v in rows)
    for name, value in rows:
        out.write(f"  {name:<{width}}  {_fmt(value)}\n")
    out.write(
        f"\nbest threshold for the RSNA metric: {_fmt(result['best_threshold'], 2)} "
        f"({_fmt(result['best_rsna_map'])})\n\n"
    )
    out.write("threshold  rsna_map  precision  recall  f1      sens    spec\n")
    for row in result["sweep"]:
        out.write(
            f"{row['threshold']:9.2f}  {_fmt(row['rsna_map']):8}  {_fmt(row['precision']):9}  "
            f"{_fmt(row['recall']):6}  {_fmt(row['f1']):6}  {_fmt(row['sensitivity']):6}  "
            f"{_fmt(row['specificity']):6}\n"
        )
    if args.plot:
        out.write(f"\nplots: {', '.join(str(p) for p in result['plots'])}\n")
    return 1 if n_problems else 0
