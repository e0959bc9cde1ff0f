"""``pneumoview report SESSION --out DIR``: the reading report of a review session.

Writes ``DIR/index.html`` with matplotlib PNG plots beside it (see :mod:`detector.report`): the
pace of the reading, edits per box, the reader's labels against the model's and the original
ground truth (RSNA metric per image and overall, per-image agreement) and the model versions
improved from the session (``SESSION.models/*.json``, when present). The session is only read
(a read-only connection; it may be open in a viewer). Exit 0 when the page was written (a
version file that cannot be read is a warning line), 1 when the session cannot be read or the
folder written, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import sys

NAME = "report"
HELP = "write the reading report of a review session (HTML page with plots)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", help="review session file (.sqlite) written by the viewer")
    parser.add_argument("--out", required=True, help="folder to write index.html and its plots")


def run(args: argparse.Namespace) -> int:
    from detector.report.page import write_report

    report = write_report(args.session, args.out)  # PneumoViewError: one line from cli.main
    for line in report.problems:
        sys.stderr.write(f"pneumoview report: warning: {line}\n")
    sys.stderr.write(f"wrote {report.page}\n")
    return 0
