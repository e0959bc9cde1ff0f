"""``pneumoview train --images DIR --labels labels.csv --out CKPT``: train a detector.

Writes the best checkpoint to ``CKPT`` (its threshold is the one that maximised the validation
RSNA metric, which ``detect`` then uses by default), ``<CKPT stem>.last.pt`` (resumable with
``--resume``), ``<CKPT stem>.split.csv`` and ``<CKPT stem>.problems.txt`` (every skipped row,
image and box with its reason; empty when there were none). Works the same on one CPU, one GPU
or under ``torchrun``. Exit 0 when training ran, 1 when it could not start (bad labels file, no
usable images, bad checkpoint) or stopped (diverging loss, a validation metric that is not a
number), 2 on bad arguments or an ``--out`` that cannot be written (checked before any work).
"""

from __future__ import annotations

import argparse
import os
import sys

from detector.cli import UsageError
from detector.errors import PneumoViewError
from detector.files.output import OutputError, check_output_file, remove_stale_temp_files
from detector.imaging.render import EQUALIZE_CHOICES
from detector.types import (
    ARCHES,
    AUGMENT_LEVELS,
    BACKBONES,
    BN_MODES,
    PRETRAINED_CHOICES,
)

NAME = "train"
HELP = "train a lung-opacity detector on RSNA-format labels and DICOM (or PNG) images"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    data.add_argument("--images", required=True, help="folder of <patientId>.dcm (or .png)")
    data.add_argument("--labels", required=True, help="RSNA labels CSV (or the viewer's export)")
    data.add_argument("--classes", help="RSNA class CSV (patientId,class) to stratify the split")
    data.add_argument(
        "--labels-size",
        type=int,
        default=None,
        metavar="N",
        help="PNGs not listed in a `convert` index.csv: the labels' boxes are in pixels of an "
        "N-px image (longer side; RSNA: 1024) and are scaled to each PNG (default: the PNG's "
        "own pixels). DICOM labels are always in the DICOM's pixels",
    )
    data.add_argument("--val-fraction", type=float, default=0.1, help="validation share")
    data.add_argument(
        "--folds", type=int, default=0, help="K-fold split (patient-level, stratified); 0: off"
    )
    data.add_argument("--fold", type=int, default=0, help="with --folds: the validation fold")
    data.add_argument("--seed", type=int, default=0, help="split, initialisation, augmentation")
    data.add_argument(
        "--cache",
        choices=("auto", "yes", "no"),
        default="auto",
        help="decode all images into memory first (auto: when they fit in 4 GiB)",
    )
    data.add_argument("--workers", type=int, default=None, help="DataLoader workers")
    model = parser.add_argument_group("model")
    model.add_argument("--out", required=True, help="checkpoint file to write (the best epoch)")
    model.add_argument("--arch", choices=ARCHES, default="retinanet")
    model.add_argument("--backbone", choices=BACKBONES, default="resnet50")
    model.add_argument("--size", type=int, default=512, help="model input size (longer side)")
    model.add_argument("--equalize", choices=EQUALIZE_CHOICES, default="none")
    model.add_argument("--backbone-weights", help="local ImageNet state dict for the backbone")
    model.add_argument(
        "--pretrained",
        choices=PRETRAINED_CHOICES,
        default="auto",
        help="trunk weights: imagenet from an installed package (efficientnet_lite0), none = "
        "from scratch; auto = imagenet where a package ships them",
    )
    model.add_argument(
        "--bn",
        choices=BN_MODES,
        default="frozen",
        help="BatchNorm statistics of a timm trunk while training: frozen (ImageNet) or train",
    )
    model.add_argument("--resume", help="continue the run of this .last.pt checkpoint")
    model.add_argument("--init", help="fine-tune from this checkpoint's weights")
    opt = parser.add_argument_group("optimisation")
    opt.add_argument("--epochs", type=int, default=20)
    opt.add_argument("--batch-size", type=int, default=8, help="images per step (per process)")
    opt.add_argument("--lr", type=float, default=2e-4, help="peak learning rate")
    opt.add_argument("--weight-decay", type=float, default=1e-4)
    opt.add_argument("--optimizer", choices=("adamw", "sgd"), default="adamw")
    opt.add_argument(
        "--scheduler",
        choices=("cosine", "plateau"),
        default="cosine",
        help="warm-up + cosine, or warm-up + ReduceLROnPlateau (patience 4, factor 0.2)",
    )
    opt.add_argument("--warmup-steps", type=int, default=None, help="default: auto")
    opt.add_argument("--augment", choices=AUGMENT_LEVELS, default="light")
    opt.add_argument(
        "--jitter", type=float, default=0.0, help="brightness/contrast jitter (e.g. 0.2)"
    )
    opt.add_argument(
        "--early-stop",
        type=int,
        default=8,
        help="stop after N epochs without a better validation RSNA metric (0: never)",
    )
    opt.add_argument(
        "--time-budget",
        type=float,
        default=None,
        help="seconds: after epoch 1, train only the epochs that fit (schedule shortened)",
    )
    opt.add_argument("--grad-clip", type=float, default=10.0, help="max gradient norm (0: off)")
    opt.add_argument("--no-amp", action="store_true", help="full precision on CUDA")
    opt.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    opt.add_argument("--max-steps", type=int, default=None, help="cap steps per epoch (smoke runs)")
    opt.add_argument("--quiet", action="store_true", help="no progress bars")
    out = parser.add_argument_group("output")
    out.add_argument(
        "--half-weights",
        action="store_true",
        help="store the best checkpoint's conv weights as float16 (half the size)",
    )
    out.add_argument("--description", help="a note stored in the checkpoint metadata")


def run(args: argparse.Namespace) -> int:
    from detector.training.config import TrainConfig
    from detector.training.trainer import train

    config = TrainConfig(
        images=args.images,
        labels=args.labels,
        out=args.out,
        classes=args.classes,
        labels_size=args.labels_size,
        arch=args.arch,
        backbone=args.backbone,
        input_size=args.size,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        optimizer=args.optimizer,
        scheduler=args.scheduler,
        warmup_steps=args.warmup_steps,
        augment=args.augment,
        jitter=args.jitter,
        equalize=args.equalize,
        val_fraction=args.val_fraction,
        folds=args.folds,
        fold=args.fold,
        seed=args.seed,
        resume=args.resume,
        init=args.init,
        backbone_weights=args.backbone_weights,
        pretrained=args.pretrained,
        bn=args.bn,
        device=args.device,
        workers=args.workers,
        cache=args.cache,
        early_stop=args.early_stop,
        time_budget=args.time_budget,
        grad_clip=args.grad_clip,
        amp=not args.no_amp,
        max_steps_per_epoch=args.max_steps,
        progress=not args.quiet,
        half_weights=args.half_weights,
        description=args.description,
    )
    try:
        config.check()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        check_output_file(args.out)
    except OutputError as err:
        raise UsageError(f"--out {err}") from None
    remove_stale_temp_files(os.path.dirname(os.path.abspath(args.out)))
    try:
        result = train(config)
    except PneumoViewError as exc:  # labels, images, checkpoint, backbone weights
        sys.stderr.write(f"pneumoview train: error: {exc}\n")
        return 1
    except FloatingPointError as exc:
        sys.stderr.write(f"pneumoview train: stopped: {exc}\n")
        return 1
    if int(os.environ.get("RANK", "0") or 0) != 0:
        return 0  # under torchrun, rank 0 reports
    m = result.best_metrics
    line = (
        f"best validation RSNA metric {m['rsna_map']:.4f} at threshold {m['threshold']:.2f} "
        f"(mAP@0.5 {m['map50']:.4f})"
        if m
        else "no validation set"
    )
    sys.stdout.write(
        f"trained {result.epochs_run} epoch(s) from epoch {result.start_epoch}"
        f"{' (early stop)' if result.stopped_early else ''}; {line}\n"
        f"best: {result.best}\nlast: {result.last}\nsplit: {result.split}\n"
    )
    if result.report.skipped:
        sys.stdout.write(f"data: {result.report.summary()}\n")
    return 0
