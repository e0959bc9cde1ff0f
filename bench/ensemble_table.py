"""Does fusing several models' boxes beat one model? Scored on the same held-out images.

    python bench/ensemble_table.py --labels LABELS.csv --split SPLIT.csv [--tta none|hflip] \
        [--halvings N] [--alone C.report.json ...] A.report.json B.report.json [...]

Each report is `pneumoview calibrate --report` of one model on the SAME validation images (the
split's ``val`` rows, which none of the models trained on). Per image the models' raw
predictions (the ``--tta`` variant, ``none`` by default) are fused as hflip TTA fuses its two views
(:func:`detector.model.tta.fuse_views`: boxes that overlap at IoU >= 0.55 form a cluster around
its best box, the fused box is the score-weighted mean, its score the mean over the models of
each model's best score in the cluster, so a box only one model of two found keeps half its
score). Then each model alone and the fusion get the same treatment as in
bench/real_model_table.py: the gate chosen on the whole fold (in-sample) and the split-half
gate (chosen on one half, scored on the other, both ways averaged), the honest number.
``--alone`` reports are scored beside them but not fused: the one model a nested ensemble is
compared with (`make real-model-nested`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import print_table  # noqa: E402
from bench.real_model_table import (  # noqa: E402
    Rows,
    add_halvings_option,
    report_predictions,
    split_sides,
)
from detector.model.gating import choose_gate, split_half  # noqa: E402
from detector.model.tta import fuse_views  # noqa: E402
from detector.rsna.labels import read_labels  # noqa: E402
from detector.training.splits import read_split  # noqa: E402


def _view(rows: Rows) -> dict[str, torch.Tensor]:
    t = torch.tensor([r[1:5] for r in rows], dtype=torch.float32).reshape(-1, 4)
    t[:, 2:] += t[:, :2]  # x y w h -> x1 y1 x2 y2
    return {
        "boxes": t,
        "scores": torch.tensor([r[0] for r in rows], dtype=torch.float32),
        "labels": torch.ones(len(rows), dtype=torch.int64),
    }


def fuse(per_model: list[dict[str, Rows]], images: list[str]) -> dict[str, Rows]:
    """One image's rows from every model, fused (``score, x, y, w, h``, best first)."""
    out: dict[str, Rows] = {}
    for image in images:
        fused = fuse_views([_view(p.get(image, [])) for p in per_model])
        b = fused["boxes"]
        out[image] = [
            (float(s), float(x1), float(y1), float(x2 - x1), float(y2 - y1))
            for s, (x1, y1, x2, y2) in zip(fused["scores"].tolist(), b.tolist(), strict=True)
        ]
    return out


def _predictions(report: Path, tta: str, images: list[str]) -> dict[str, Rows]:
    """One model's raw *tta* predictions from its calibrate report, which must cover *images*."""
    preds = report_predictions(json.loads(report.read_text()), tta)
    missing = [i for i in images if i not in preds]
    if missing:
        raise SystemExit(f"{report}: no predictions for {len(missing)} validation images")
    return preds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", required=True)
    parser.add_argument("--split", required=True)
    parser.add_argument("--tta", choices=["none", "hflip"], default="none")
    parser.add_argument(
        "--alone", action="append", type=Path, default=[], help="score it, but do not fuse it"
    )
    add_halvings_option(parser)
    parser.add_argument("reports", nargs="+", type=Path, help="the models to fuse")
    args = parser.parse_args()
    labels = read_labels(args.labels)
    truth, _train = split_sides(labels, read_split(args.split))
    images = sorted(truth)
    per_model = [_predictions(report, args.tta, images) for report in args.reports]
    variants = [(f"{r} (alone)", _predictions(r, args.tta, images)) for r in args.alone]
    variants += [(str(r), p) for r, p in zip(args.reports, per_model, strict=True)]
    variants.append((f"fusion of the {len(per_model)}", fuse(per_model, images)))
    rows = []
    for name, preds in variants:
        _gate, inside = choose_gate(truth, preds)
        half = split_half(truth, preds, halvings=args.halvings)
        rows.append(
            [
                name,
                f"{inside['rsna_map']:.3f}",
                f"{half['rsna_map']:.3f}",
                f"{inside['map50']:.3f}",
                f"{inside['sensitivity']:.2f}",
                f"{inside['specificity']:.2f}",
            ]
        )
    positives = sum(1 for b in truth.values() if b)
    print(
        f"{len(truth)} held-out images ({positives} positive), TTA {args.tta}, "
        f"split-half over {args.halvings} halving(s)"
    )
    print_table(
        [
            "model",
            "RSNA in-sample gate",
            "RSNA split-half gate",
            "mAP@0.5",
            "sensitivity",
            "specificity",
        ],
        rows,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
