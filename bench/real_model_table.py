"""Validation numbers of real-data models, from `pneumoview calibrate --report` files.

    python bench/real_model_table.py --labels LABELS.csv --split SPLIT.csv [--halvings N] REPORT.json [...]
    python bench/real_model_table.py --labels LABELS.csv --cv build/real-model [--halvings N]

The second form reads ``fold<N>/real.report.json`` + ``fold<N>/real.split.csv`` under the folder
(`make real-model-cv`) and prints one row per fold for the TTA variant `calibrate` chose there,
then the mean and standard deviation over the folds.

For each report (the raw validation predictions of one model, with and without hflip TTA) it
prints one markdown row per variant:

- ``in-sample``: the gate chosen on the whole validation fold and scored on it (what
  `calibrate` stores; optimistic, since the same 240 images choose and score it);
- ``split-half``: the gate chosen on one half of the fold and scored on the other, both ways,
  averaged (an honest estimate of the gated metric on unseen images); ``--halvings N`` averages
  N shuffles into halves, since one halving moves the estimate by about 0.02 (sd) on a fold;

plus a baseline row: two fixed boxes (the median left-lung and right-lung training box) on every
validation image, as a model that learned nothing about the image would place them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import print_table  # noqa: E402
from detector.model.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from detector.model.gating import choose_gate, split_half  # noqa: E402
from detector.rsna.labels import LabelsFile, read_labels  # noqa: E402
from detector.rsna.metrics import evaluate  # noqa: E402
from detector.training.splits import read_split  # noqa: E402

Rows = list[tuple[float, ...]]


def split_sides(labels: LabelsFile, split: dict[str, str]) -> tuple[dict, dict]:
    """(held-out truth, training truth) of a split: the boxes of its ``val`` and ``train`` rows."""
    truth = {i: b for i, b in labels.boxes.items() if split.get(i) == "val"}
    train = {i: b for i, b in labels.boxes.items() if split.get(i) == "train"}
    return truth, train


def report_predictions(data: dict, tta: str) -> dict[str, Rows]:
    """A calibrate report's raw predictions of one TTA variant: ``(score, x, y, w, h)`` rows."""
    return {k: [tuple(r) for r in v] for k, v in data["predictions"][tta].items()}


def add_halvings_option(parser: argparse.ArgumentParser) -> None:
    """``--halvings N`` (at least 1) for :func:`split_half`, shared by the bench tables."""

    def at_least_one(text: str) -> int:
        value = int(text)
        if value < 1:
            raise argparse.ArgumentTypeError("must be at least 1")
        return value

    parser.add_argument(
        "--halvings",
        type=at_least_one,
        default=1,
        help="split-half: average this many shuffles of the held-out images (default 1)",
    )


def _fmt(m: dict) -> str:
    return (
        f"{m['rsna_map']:.3f} | {m['map50']:.3f} | {m['sensitivity']:.2f} | {m['specificity']:.2f}"
    )


def median_boxes(train: dict) -> list[tuple[float, ...]]:
    boxes = [b for bs in train.values() for b in bs]
    out = []
    for side in (lambda b: b[0] + b[2] / 2 < 256, lambda b: b[0] + b[2] / 2 >= 256):
        chosen = [b for b in boxes if side(b)]
        if chosen:
            out.append(tuple(statistics.median(b[k] for b in chosen) for k in range(4)))
    return out


def _digits(key: str) -> int:
    return 2 if key in ("sensitivity", "specificity") else 3


def cv_rows(
    labels_path: str, run_dir: Path, tta_variant: str = "chosen", halvings: int = 1
) -> tuple[list[list[str]], dict[str, list[float]]]:
    """One row per fold<N>/ under *run_dir* (the TTA variant calibrate chose, or the one
    named: ``none``, ``hflip``), then mean and spread; and the per-fold values by column key.
    The split-half column averages *halvings* shuffles of each fold (:func:`split_half`)."""
    labels = read_labels(labels_path)
    rows: list[list[str]] = []
    keys = ("base", "in", "half", "map50", "sensitivity", "specificity")
    per_fold: dict[str, list[float]] = {k: [] for k in keys}
    for fold_dir in sorted(run_dir.glob("fold*")):
        report, split_file = fold_dir / "real.report.json", fold_dir / "real.split.csv"
        if not report.is_file() or not split_file.is_file():
            continue
        truth, train = split_sides(labels, read_split(split_file))
        data = json.loads(report.read_text())
        tta = data["chosen"]["tta"] if tta_variant == "chosen" else tta_variant
        preds = report_predictions(data, tta)
        base = {i: [(1.0, *b) for b in median_boxes(train)] for i in truth}
        gate, m = choose_gate(truth, preds)
        values = {
            "base": float(evaluate(truth, base, 0.5)["rsna_map"]),
            "in": float(m["rsna_map"]),
            "half": float(split_half(truth, preds, halvings=halvings)["rsna_map"]),
            "map50": float(m["map50"]),
            "sensitivity": float(m["sensitivity"]),
            "specificity": float(m["specificity"]),
        }
        for k in keys:
            per_fold[k].append(values[k])
        positives = sum(1 for b in truth.values() if b)
        rows.append(
            [fold_dir.name, f"{len(truth)} ({positives})", tta]
            + [f"{values[k]:.{_digits(k)}f}" for k in keys]
        )
    if len(rows) > 1:
        rows.append(
            [f"mean ± sd ({len(rows)} folds)", "", ""]
            + [
                f"{statistics.mean(per_fold[k]):.{_digits(k)}f}"
                f" ± {statistics.stdev(per_fold[k]):.{_digits(k)}f}"
                for k in keys
            ]
        )
    return rows, per_fold


def stamp(
    checkpoint: Path, per_fold: dict[str, list[float]], run_dir: Path, halvings: int = 1
) -> None:
    """Record the cross-validated split-half RSNA metric in *checkpoint*'s meta (its model card)."""
    values = per_fold["half"]
    if len(values) < 2:
        raise SystemExit(f"{run_dir}: fewer than 2 calibrated folds; nothing to stamp")
    state, meta = load_checkpoint(str(checkpoint))
    meta["cross_validation"] = {
        "rsna_mean": round(statistics.mean(values), 4),
        "rsna_sd": round(statistics.stdev(values), 4),
        "folds": len(values),
        "per_fold": [round(v, 4) for v in values],
        "gate": "split-half" if halvings == 1 else f"split-half, mean of {halvings} halvings",
    }
    save_checkpoint(checkpoint, state, meta)
    print(f"{checkpoint}: cross-validated RSNA {meta['cross_validation']}")


CV_HEADER = [
    "fold",
    "val images (positive)",
    "TTA",
    "baseline RSNA",
    "RSNA in-sample gate",
    "RSNA split-half gate",
    "mAP@0.5",
    "sensitivity",
    "specificity",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", required=True)
    parser.add_argument("--split")
    parser.add_argument("--cv", type=Path, help="folder of fold<N>/ runs (make real-model-cv)")
    parser.add_argument("--stamp", type=Path, help="with --cv: write the CV numbers into CKPT")
    parser.add_argument(
        "--tta",
        choices=["chosen", "none", "hflip"],
        default="chosen",
        help="with --cv: the TTA variant scored (default: the one calibrate chose per fold)",
    )
    add_halvings_option(parser)
    parser.add_argument("reports", nargs="*")
    args = parser.parse_args()
    if args.cv is not None:
        rows, per_fold = cv_rows(args.labels, args.cv, args.tta, args.halvings)
        print_table(CV_HEADER, rows)
        if args.stamp is not None and args.tta != "chosen":
            parser.error("--stamp records the chosen TTA's numbers (what the model runs)")
        if args.stamp is not None:
            stamp(args.stamp, per_fold, args.cv, args.halvings)
        return 0
    if not args.split or not args.reports:
        parser.error("--split and at least one REPORT.json (or --cv DIR)")
    labels = read_labels(args.labels)
    truth, train = split_sides(labels, read_split(args.split))
    print("| model | TTA | gate chosen | RSNA | mAP@0.5 | sensitivity | specificity |")
    print("|---|---|---|---|---|---|---|")
    fixed = median_boxes(train)
    base = {i: [(1.0, *b) for b in fixed] for i in truth}
    print(
        f"| two median boxes on every image (baseline) | - | - | {_fmt(evaluate(truth, base, 0.5))} |"
    )
    for report in args.reports:
        data = json.loads(Path(report).read_text())
        name = Path(report).parent.name + "/" + Path(report).name.split(".report")[0]
        for tta in data["predictions"]:
            preds = report_predictions(data, tta)
            gate, m = choose_gate(truth, preds)
            desc = (
                f"box {gate.box_threshold:.2f}, image {gate.image_threshold:.2f}, "
                f"max {gate.max_boxes or 'all'}"
            )
            print(f"| {name} | {tta} | in-sample ({desc}) | {_fmt(m)} |")
            half = split_half(truth, preds, halvings=args.halvings)
            print(f"| {name} | {tta} | split-half | {_fmt(half)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
