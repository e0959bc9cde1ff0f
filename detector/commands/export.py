"""``pneumoview export SESSION --out FILE.csv --format labels|audit|submission``.

Writes a review session (the SQLite file the viewer keeps) as corrected RSNA labels, an audit
trail, or a submission (see :mod:`detector.review.export`). The output is checked writable
before anything is read and written atomically. Exit 0 on success, 1 when the session cannot
be read or the file written, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import sys

from detector.cli import UsageError

NAME = "export"
HELP = "export a review session as labels, audit or submission CSV"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from detector.review.export import EXPORT_FORMATS

    parser.add_argument("session", help="review session file (.sqlite) written by the viewer")
    parser.add_argument("--out", required=True, help="CSV file to write")
    parser.add_argument(
        "--format",
        choices=EXPORT_FORMATS,
        default="labels",
        help="labels: corrected RSNA labels of the reviewed images (default); audit: the same "
        "plus source, score, status, reviewer, time and effort, and rejected predictions; "
        "submission: RSNA submission of the model's predictions at --threshold",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="submission score threshold (default: the session's model threshold, else 0.5)",
    )


def run(args: argparse.Namespace) -> int:
    from detector.files.output import OutputError, check_output_file
    from detector.review.export import ExportError, export_review
    from detector.review.store import SessionError, open_session

    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise UsageError("--threshold must be in [0, 1]")
    try:
        check_output_file(args.out)
    except OutputError as err:
        raise UsageError(f"--out {err}") from None
    try:
        state, store = open_session(args.session, create=False)
    except SessionError as err:
        sys.stderr.write(f"pneumoview export: {err}\n")
        return 1
    try:
        rows = export_review(state, args.out, args.format, threshold=args.threshold)
    except ExportError as err:
        sys.stderr.write(f"pneumoview export: {err}\n")
        return 1
    finally:
        store.close()
    done, total = state.progress()
    sys.stderr.write(
        f"wrote {rows} {args.format} row(s) to {args.out} "
        f"({done} of {total} image(s) reviewed in {args.session})\n"
    )
    return 0
