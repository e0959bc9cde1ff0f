"""Validation numbers of real-data models, from `pneumoview calibrate --report` files.

    python bench/real_model_table.py --labels LABELS.csv --split SPLIT.csv REPORT.json [...]

For each report (the raw validation predictions of one model, with and without hflip TTA) it
prints one markdown row per variant:

- ``in-sample``: the gate chosen on the whole validation fold and scored on it (what
  `calibrate` stores; optimistic, since the same 240 images choose and score it);
- ``split-half``: the gate chosen on one half of the fold and scored on the other, both ways,
  averaged (an honest estimate of the gated metric on unseen images);

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

from detector.datasets import read_split  # noqa: E402
from detector.gating import choose_gate, gate_predictions  # noqa: E402
from detector.labels import read_labels  # noqa: E402
from detector.metrics import evaluate  # noqa: E402


def _fmt(m: dict) -> str:
    return (
        f"{m['rsna_map']:.3f} | {m['map50']:.3f} | {m['sensitivity']:.2f} | {m['specificity']:.2f}"
    )


def split_half(truth: dict, preds: dict, seed: int = 0) -> dict:
    import random

    ids = sorted(truth)
    random.Random(seed).shuffle(ids)
    halves = [ids[::2], ids[1::2]]
    scores: dict[str, list[float]] = {
        "rsna_map": [],
        "map50": [],
        "sensitivity": [],
        "specificity": [],
    }
    for a, b in ((0, 1), (1, 0)):
        ta = {i: truth[i] for i in halves[a]}
        tb = {i: truth[i] for i in halves[b]}
        gate, _ = choose_gate(ta, {i: preds.get(i, []) for i in ta})
        gated = gate_predictions({i: preds.get(i, []) for i in tb}, gate)
        m = evaluate(tb, gated, threshold=gate.box_threshold)
        for k in scores:
            scores[k].append(float(m[k]))
    return {k: statistics.mean(v) for k, v in scores.items()}


def median_boxes(train: dict) -> list[tuple[float, ...]]:
    boxes = [b for bs in train.values() for b in bs]
    out = []
    for side in (lambda b: b[0] + b[2] / 2 < 256, lambda b: b[0] + b[2] / 2 >= 256):
        chosen = [b for b in boxes if side(b)]
        if chosen:
            out.append(tuple(statistics.median(b[k] for b in chosen) for k in range(4)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", required=True)
    parser.add_argument("--split", required=True)
    parser.add_argument("reports", nargs="+")
    args = parser.parse_args()
    labels = read_labels(args.labels)
    split = read_split(args.split)
    truth = {i: b for i, b in labels.boxes.items() if split.get(i) == "val"}
    train = {i: b for i, b in labels.boxes.items() if split.get(i) == "train"}
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
        for tta, preds in data["predictions"].items():
            preds = {k: [tuple(r) for r in v] for k, v in preds.items()}
            gate, m = choose_gate(truth, preds)
            desc = (
                f"box {gate.box_threshold:.2f}, image {gate.image_threshold:.2f}, "
                f"max {gate.max_boxes or 'all'}"
            )
            print(f"| {name} | {tta} | in-sample ({desc}) | {_fmt(m)} |")
            print(f"| {name} | {tta} | split-half | {_fmt(split_half(truth, preds))} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
