"""``pneumoview calibrate --model CKPT --images DIR --labels CSV --split SPLIT``.

Chooses the checkpoint's gate (box threshold, image threshold, box cap) and test-time
augmentation on the validation images of a training split (the ``<model>.split.csv`` that
``train`` wrote) and stores them, with the metrics measured at that setting, in the checkpoint
(atomically; ``--out`` writes a copy instead). Exit 0 when done, 1 when the data or checkpoint
cannot be used, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from detector.cli import UsageError
from detector.errors import PneumoViewError

NAME = "calibrate"
HELP = "choose a checkpoint's threshold/gate and TTA on validation images"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="checkpoint to calibrate")
    parser.add_argument("--images", required=True, help="folder of <patientId>.dcm (or .png)")
    parser.add_argument("--labels", required=True, help="RSNA labels CSV")
    parser.add_argument(
        "--split", help="split CSV from train (its 'val' rows are used; default: every image)"
    )
    parser.add_argument("--out", help="write the calibrated checkpoint here (default: in place)")
    parser.add_argument(
        "--tta", choices=("auto", "none", "hflip"), default="auto", help="auto: try both"
    )
    parser.add_argument("--report", help="also write every variant's metrics as JSON here")
    parser.add_argument(
        "--data-summary", help="what the model was trained on, shown with the model (model card)"
    )
    parser.add_argument(
        "--data-kind", choices=("real", "synthetic"), default=None, help="with --data-summary"
    )
    parser.add_argument("--intended-use", help="e.g. 'research baseline, not for clinical use'")
    parser.add_argument("--description", help="replace the checkpoint's description")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=8)


def run(args: argparse.Namespace) -> int:
    from detector.files.image_files import find_images
    from detector.model.checkpoint import load_checkpoint, save_checkpoint
    from detector.rsna.labels import read_labels
    from detector.training.calibration import calibrate
    from detector.training.splits import read_split

    if args.batch_size < 1:
        raise UsageError("--batch-size must be >= 1")
    out = args.out or args.model
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise UsageError(f"{out}: cannot write there (folder missing or read-only)")
    try:
        state, meta = load_checkpoint(args.model)
        labels = read_labels(args.labels)
        paths = find_images(args.images)
        split = read_split(args.split) if args.split else None
    except PneumoViewError as exc:  # checkpoint, labels, images or split file
        sys.stderr.write(f"pneumoview calibrate: error: {exc}\n")
        return 1
    ids = [i for i in labels.boxes if i in paths and (split is None or split.get(i) == "val")]
    if not ids:
        sys.stderr.write(
            "pneumoview calibrate: error: no validation image has both a label and a file\n"
        )
        return 1
    truth = {i: labels.boxes[i] for i in ids}
    choices = ("none", "hflip") if args.tta == "auto" else (args.tta,)
    result = calibrate(
        args.model,
        truth,
        paths,
        tta_choices=choices,
        device=args.device,
        batch_size=args.batch_size,
    )
    update = result.meta_update()
    update["calibration"].update(
        {"images": len(ids), "split_file": os.path.basename(args.split) if args.split else None}
    )
    meta.update(update)
    if args.data_summary:
        meta["training_data"] = {"kind": args.data_kind or "real", "summary": args.data_summary}
    if args.intended_use:
        meta["intended_use"] = args.intended_use
    if args.description:
        meta["description"] = args.description
    save_checkpoint(out, state, meta)
    if args.report:
        from detector.files.output import atomic_write_text

        payload = {"chosen": update, "predictions": result.predictions}
        atomic_write_text(args.report, json.dumps(payload, indent=1) + "\n")
    m = result.metrics
    g = result.gate
    sys.stdout.write(
        f"{len(ids)} validation image(s): tta {result.tta}, box threshold {g.box_threshold:.2f}, "
        f"image threshold {g.image_threshold:.2f}, max boxes {g.max_boxes or 'all'}: "
        f"RSNA {m['rsna_map']:.4f} (gate chosen on held-out halves: "
        f"{m['rsna_map_heldout_gate']:.4f}), mAP@0.5 {m['map50']:.4f}, "
        f"sensitivity {m['sensitivity']:.2f}, specificity {m['specificity']:.2f}\n"
        f"wrote {out}\n"
    )
    return 0
