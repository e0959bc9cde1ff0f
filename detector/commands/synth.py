"""``pneumoview synth --out DIR --count N``: write synthetic chest-radiograph phantoms.

Writes ``DIR/<patientId>.dcm`` (CR, MONOCHROME2, 8-bit; about half JPEG Baseline), an RSNA-format
``DIR/labels.csv``, ``DIR/class_info.csv`` and ``DIR/synth.json``. Every file is labelled as a
synthetic phantom; see :mod:`detector.synth.phantoms`.
"""

from __future__ import annotations

import argparse
import sys

from detector.cli import UsageError
from detector.files.output import OutputError, check_output_dir
from detector.synth.phantoms import synthesize

NAME = "synth"
HELP = "write synthetic chest X-ray phantoms (DICOM) with RSNA-format labels"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", required=True, help="output folder (created if needed; its parent must exist)"
    )
    parser.add_argument("--count", type=int, required=True, help="number of images")
    parser.add_argument("--size", type=int, default=1024, help="image rows and columns")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same set)")
    parser.add_argument(
        "--jpeg-fraction",
        type=float,
        default=0.5,
        help="share of files written as JPEG Baseline (default 0.5)",
    )
    parser.add_argument(
        "--positive-fraction",
        type=float,
        default=0.5,
        help="share of images with lung opacities (default 0.5)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if args.count < 1:
        raise UsageError("--count must be >= 1")
    if args.size < 32:
        raise UsageError("--size must be >= 32")
    for flag, value in (
        ("--jpeg-fraction", args.jpeg_fraction),
        ("--positive-fraction", args.positive_fraction),
    ):
        if not 0.0 <= value <= 1.0:
            raise UsageError(f"{flag} must be in [0, 1]")
    try:
        check_output_dir(args.out)
    except OutputError as err:
        raise UsageError(f"--out {err}") from None
    bar = None
    if not args.quiet and args.count > 1:
        from tqdm import tqdm

        bar = tqdm(total=args.count, unit="img", desc="synth", file=sys.stderr, leave=False)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.update(1)

    try:
        summary = synthesize(
            args.out,
            args.count,
            size=args.size,
            seed=args.seed,
            jpeg_fraction=args.jpeg_fraction,
            positive_fraction=args.positive_fraction,
            progress=progress,
        )
    except OSError as exc:
        sys.stderr.write(f"pneumoview synth: {args.out}: cannot write ({exc.strerror or exc})\n")
        return 1
    finally:
        if bar is not None:
            bar.close()
    sys.stdout.write(
        f"wrote {summary.count} synthetic phantom(s) ({summary.positives} with "
        f"{summary.box_count} opacity box(es)) to {summary.out_dir} in {summary.seconds:.1f} s\n"
        f"labels: {summary.labels_csv}\nclasses: {summary.class_info_csv}\n"
    )
    return 0
