"""``pneumoview eval --truth labels.csv --pred FILE.csv``: score predictions against labels.

Prints the RSNA challenge metric, mAP@0.5, box-level precision/recall/F1 and image-level
sensitivity/specificity, plus a threshold sweep as a table (``--json``: one JSON object).
Without ``--threshold`` the prediction file is scored as it is, every box counted (as the
challenge's scorer does); ``--threshold T`` drops boxes scored below T first. The "best
threshold" is :func:`detector.rsna.metrics.best_row`'s choice: the middle of the widest run of
thresholds with the best RSNA metric (the rule training uses for its checkpoint threshold).

``--plot DIR`` writes ``pr_curve.png`` and ``metrics_vs_threshold.png`` (DIR is checked before
any work: exit 2 when it cannot be written). The predictions may be a submission CSV or a labels
CSV with a ``score`` column. Malformed rows are reported with their line number and skipped;
a bad prediction row still counts its image (with no box from that row). Boxes outside their
image are reported as ``train`` reports them: against each image's size with ``--images DIR``,
otherwise only negative coordinates can be told. Any reported row gives exit code 1; the
evaluation still runs on the rest.
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
        "--threshold",
        type=float,
        default=None,
        help="drop boxes scored below T first (default: score the file as it is)",
    )
    parser.add_argument(
        "--images",
        metavar="DIR",
        default=None,
        help="image folder (<patientId>.dcm/.png): check every box against its image's size",
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

    from detector.files.output import atomic_write_bytes
    from detector.rsna.metrics import precision_recall_curve

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
    if result["threshold"] is not None:
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


def outside_boxes(
    name: str,
    boxes: dict[str, list[Any]],
    lines: dict[str, list[int]],
    sizes: dict[str, tuple[int, int]],
    *,
    scored: bool,
) -> list[str]:
    """One problem line per box outside its image (sizes known) or at negative coordinates."""
    from detector.rsna.labels import outside_image, outside_problem

    out = []
    for pid, items in boxes.items():
        height, width = sizes.get(pid, (0, 0))
        where = lines.get(pid, [])
        for k, item in enumerate(items):
            x, y, w, h = (float(v) for v in (item[1:5] if scored else item))
            if outside_image((x, y, w, h), width or None, height or None):
                line = where[k] if k < len(where) else "?"
                out.append(
                    outside_problem(
                        f"{name}:{line}", (x, y, w, h), width or None, height or None, pid
                    )
                )
    return out


def image_sizes(folder: str, ids: set[str]) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """``patientId -> (height, width)`` from the headers of the images of ``ids`` in folder."""
    from detector.files.image_files import DatasetError, find_images, probe_image
    from detector.imaging.read import DicomReadError

    try:
        paths = find_images(folder)
    except DatasetError as err:
        raise UsageError(f"--images {folder}: {err.reason}") from None
    sizes: dict[str, tuple[int, int]] = {}
    problems = []
    for pid in sorted(ids & set(paths)):
        try:
            height, width, _patient = probe_image(paths[pid])
        except DicomReadError as err:
            problems.append(f"{paths[pid]}: {err.reason}")
            continue
        sizes[pid] = (height, width)
    return sizes, problems


def run(args: argparse.Namespace) -> int:
    from detector.files.output import OutputError, check_output_dir, remove_stale_temp_files
    from detector.rsna.labels import LabelsError, read_labels, read_predictions
    from detector.rsna.metrics import evaluate

    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise UsageError("--threshold must be in [0, 1]")
    if args.plot:
        try:
            remove_stale_temp_files(check_output_dir(args.plot))
        except OutputError as err:
            raise UsageError(f"--plot {err}") from None
    try:
        truth_file = read_labels(args.truth)
        preds = read_predictions(args.pred)
    except LabelsError as err:
        sys.stderr.write(f"pneumoview eval: {err}\n")
        return 1
    sizes: dict[str, tuple[int, int]] = {}
    image_problems: list[str] = []
    if args.images:
        sizes, image_problems = image_sizes(args.images, set(truth_file.boxes) | set(preds))
    outside = outside_boxes(
        Path(args.truth).name, truth_file.boxes, truth_file.lines, sizes, scored=False
    ) + outside_boxes(Path(args.pred).name, dict(preds), preds.lines, sizes, scored=True)
    problems = truth_file.problems + preds.problems + image_problems + outside
    n_problems = truth_file.skipped + preds.skipped + len(image_problems) + len(outside)
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

    # No --threshold: every box of the file counts, as in the challenge's scoring.
    threshold = 0.0 if args.threshold is None else float(args.threshold)
    result = evaluate(truth, preds, threshold=threshold)
    result["threshold"] = args.threshold
    result["skipped_rows"] = truth_file.skipped + preds.skipped
    result["outside_boxes"] = len(outside)
    result["unmatched_predictions"] = len(extra)
    result["missing_predictions"] = len(absent)
    result["prediction_format"] = preds.format
    if args.plot:
        result["plots"] = [str(p) for p in write_plots(args.plot, truth, preds, result)]

    if args.json:
        json.dump(_clean(result), sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 1 if n_problems else 0
    write_report(sys.stdout, args, result, preds.format)
    return 1 if n_problems else 0


SWEEP_COLUMNS = (
    ("threshold", "threshold", 2),
    ("RSNA", "rsna_map", 4),
    ("precision", "precision", 4),
    ("recall", "recall", 4),
    ("F1", "f1", 4),
    ("TP", "tp", 0),
    ("FP", "fp", 0),
    ("FN", "fn", 0),
    ("sensitivity", "sensitivity", 4),
    ("specificity", "specificity", 4),
)


def sweep_table(rows: list[dict[str, Any]], best: float | None) -> list[str]:
    """The threshold sweep as an aligned text table; the best threshold's row is marked."""
    cells = [
        [
            _fmt(row[key], digits) if digits else str(int(row[key]))
            for _h, key, digits in SWEEP_COLUMNS
        ]
        for row in rows
    ]
    widths = [
        max(len(head), *(len(c[i]) for c in cells)) if cells else len(head)
        for i, (head, _k, _d) in enumerate(SWEEP_COLUMNS)
    ]
    lines = ["  ".join(h.rjust(w) for (h, _k, _d), w in zip(SWEEP_COLUMNS, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row, cell in zip(rows, cells, strict=True):
        mark = "  <- best" if best is not None and row["threshold"] == best else ""
        lines.append("  ".join(c.rjust(w) for c, w in zip(cell, widths, strict=True)) + mark)
    return lines


def write_report(out: Any, args: argparse.Namespace, result: dict[str, Any], fmt: str) -> None:
    out.write(
        f"truth: {args.truth} ({result['images']} images, {result['positive_images']} with "
        f"findings, {result['truth_boxes']} boxes)\n"
    )
    out.write(f"pred:  {args.pred} ({fmt} format)\n\n")
    if args.threshold is None:
        out.write(f"every box of the file, as it is ({result['predictions']} boxes):\n")
    else:
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
    best = result["best_threshold"]
    out.write(
        f"\nbest threshold for the RSNA metric: {_fmt(best, 2)} "
        f"({_fmt(result['best_rsna_map'])}; the middle of the best plateau)\n\n"
    )
    finite = isinstance(best, float) and not math.isnan(best)
    for line in sweep_table(result["sweep"], best if finite else None):
        out.write(line + "\n")
    if args.plot:
        out.write(f"\nplots: {', '.join(str(p) for p in result['plots'])}\n")
