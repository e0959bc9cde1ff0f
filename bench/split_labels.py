"""The labels of one side of a split: the training set of a nested experiment.

    python bench/split_labels.py --labels LABELS.csv --split SPLIT.csv [--rows train|val] --out OUT.csv

Writes the RSNA labels (``patientId,x,y,width,height,Target``) of the patients whose rows in
SPLIT.csv (``train``'s split file) say ``--rows`` (``train`` by default), so that a model trained
on OUT.csv never sees the split's other side. `make real-model-nested` trains its inner folds so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.errors import PneumoViewError  # noqa: E402
from detector.rsna.csv_write import write_labels  # noqa: E402
from detector.rsna.labels import read_labels  # noqa: E402
from detector.training.splits import read_split  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", required=True)
    parser.add_argument("--split", required=True)
    parser.add_argument("--rows", choices=["train", "val"], default="train")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        labels = read_labels(args.labels)
        split = read_split(args.split)
    except PneumoViewError as exc:  # one line naming the file and the reason
        raise SystemExit(str(exc)) from None
    kept = {pid: boxes for pid, boxes in labels.boxes.items() if split.get(pid) == args.rows}
    unsplit = sum(1 for pid in labels.boxes if pid not in split)
    if not kept:
        raise SystemExit(f"{args.split}: no {args.rows} row names an image of {args.labels}")
    rows = write_labels(args.out, kept, with_score=False)
    positive = sum(1 for boxes in kept.values() if boxes)
    print(
        f"wrote {args.out}: {len(kept)} images ({positive} positive, {rows} rows) of "
        f"{len(labels.boxes)}; {unsplit} not in the split"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
