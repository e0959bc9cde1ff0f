"""``pneumoview export SESSION --out FILE.csv --format labels|audit|submission|reviewed-submission``,
or ``--out DIR --format gsps|sr``.

``--format gsps`` writes one presentation state per reviewed image (:mod:`detector.gsps.export`);
``--format sr`` one DICOM SR (TID 1500) per reviewed image, holding the boxes of the ``labels``
export with their source and the reader's name (:mod:`detector.sr.review_output`).

Writes a review session (the SQLite file the viewer keeps) as corrected RSNA labels, an audit
trail, the model's submission or the reviewed result as a submission (see
:mod:`detector.review.export`); a second line says the rule the export applied. The output is checked writable
before anything is read and written atomically; temp files of a killed export are removed; a box
that cannot be written as a valid row (not finite, or narrower than 1/1000 pixel) is left out
with a warning line naming its image. Exit 0 on success, 1 when the session cannot
be read or the file written, 2 on a usage error. The session is only read (a read-only
connection, a copy in memory): it is never changed, may be open in a viewer, and can be on
read-only media.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from detector.cli import UsageError

NAME = "export"
HELP = "export a review session as labels, audit, submission or reviewed-submission CSV, or SRs"
SR_FORMAT = "sr"
GSPS_FORMAT = "gsps"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from detector.review.export import CONFIRM_IOU, EXPORT_FORMATS

    parser.add_argument("session", help="review session file (.sqlite) written by the viewer")
    parser.add_argument("--out", required=True, help="CSV file to write (gsps, sr: a folder)")
    parser.add_argument(
        "--format",
        choices=(*EXPORT_FORMATS, GSPS_FORMAT, SR_FORMAT),
        default="labels",
        help="labels: corrected RSNA labels of the reviewed images (default); audit: the same "
        "plus source, score, status, reviewer, time and effort, and rejected predictions; "
        "submission: what the model proposed at --threshold, whatever the review did; "
        "reviewed-submission: the labels as a submission (accepted predictions with their "
        "score, ground truth and drawn boxes with 1.0); gsps: one Grayscale Softcopy Presentation "
        "State per reviewed image into the --out folder, the labels' boxes as closed polylines; sr: "
        "one DICOM SR (TID 1500) per reviewed image with the labels' boxes, their source and the "
        "reader's name",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="submission score threshold (default: the session's model threshold, else 0.5)",
    )
    parser.add_argument(
        "--iou",
        type=float,
        default=CONFIRM_IOU,
        help="IoU at which an accepted prediction confirms a ground-truth box, which is then "
        f"one labels row (default {CONFIRM_IOU:.2f}, the viewer's compare IoU)",
    )


def run(args: argparse.Namespace) -> int:
    from detector.files.output import OutputError, check_output_dir, check_output_file
    from detector.review.export import ExportError, export_note, export_review
    from detector.review.store import SessionError, open_session

    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise UsageError("--threshold must be in [0, 1]")
    if not 0.0 < args.iou <= 1.0:
        raise UsageError("--iou must be in (0, 1]")
    try:
        if args.format in (SR_FORMAT, GSPS_FORMAT):
            check_output_dir(args.out)
        else:
            check_output_file(args.out)
    except OutputError as err:
        raise UsageError(f"--out {err}") from None
    try:
        state, store = open_session(args.session, create=False, read_only=True)
    except SessionError as err:
        sys.stderr.write(f"pneumoview export: {err}\n")
        return 1
    problems: list[str] = []
    for line in store.quarantined:  # unreadable rows are left out, and said so
        sys.stderr.write(f"pneumoview export: {store.path.name}: {line}\n")
    if args.format == SR_FORMAT:
        return _run_sr(args, state, store, problems)
    if args.format == GSPS_FORMAT:
        return _run_gsps(args, state, store, problems)
    try:
        rows = export_review(
            state,
            args.out,
            args.format,
            threshold=args.threshold,
            iou_threshold=args.iou,
            problems=problems,
        )
        note = export_note(state, args.format, threshold=args.threshold, iou_threshold=args.iou)
    except ExportError as err:
        sys.stderr.write(f"pneumoview export: {err}\n")
        return 1
    finally:
        store.close()
    _summary(args, state, problems, f"{rows} {args.format} row(s)", f"\n{note}")
    return 0


def _summary(
    args: argparse.Namespace, state: Any, problems: list[str], written: str, tail: str = ""
) -> None:
    """An export's warnings, then its one summary line: what was written where, of how many
    reviewed images (``tail`` follows the closing parenthesis)."""
    for line in problems:
        sys.stderr.write(f"pneumoview export: warning: {line}\n")
    done, total = state.progress()
    sys.stderr.write(
        f"wrote {written} to {args.out} "
        f"({done} of {total} image(s) reviewed in {args.session}){tail}\n"
    )


def _run_sr(args: argparse.Namespace, state: Any, store: Any, problems: list[str]) -> int:
    from detector.sr.review_output import export_review_sr

    try:
        written = export_review_sr(state, args.out, iou_threshold=args.iou, problems=problems)
    finally:
        store.close()
    _summary(args, state, problems, f"{written} SR file(s)")
    return 1 if problems else 0


def _run_gsps(args: argparse.Namespace, state: Any, store: Any, problems: list[str]) -> int:
    from detector.gsps.export import GspsExportError, export_gsps

    try:
        written = export_gsps(state, args.out, iou_threshold=args.iou, problems=problems)
    except GspsExportError as err:
        sys.stderr.write(f"pneumoview export: {err}\n")
        return 1
    finally:
        store.close()
    _summary(
        args,
        state,
        problems,
        f"{len(written)} presentation state(s)",
        "; the labels export's boxes as closed polylines with their source and score",
    )
    # Exit 1 when an image was left out (the others are written).
    return 1 if any("no GSPS written" in line for line in problems) else 0
