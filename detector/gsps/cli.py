"""The ``gsps`` branch of ``pneumoview export``: open the session read-only, write, report."""

from __future__ import annotations

import argparse
import sys

from detector.cli import UsageError


def run_gsps_export(args: argparse.Namespace) -> int:
    """Write one GSPS per reviewed image of ``args.session`` into the folder ``args.out``.

    Exit 0 when every reviewed image got its state, 1 when the session or the folder cannot be
    used or an image was left out (each named on its own line; the others are written).
    """
    from detector.files.output import OutputError, check_output_dir
    from detector.gsps.export import GspsExportError, export_gsps
    from detector.review.store import SessionError, open_session

    try:
        check_output_dir(args.out)
    except OutputError as err:
        raise UsageError(f"--out {err}") from None
    try:
        state, store = open_session(args.session, create=False, read_only=True)
    except SessionError as err:
        sys.stderr.write(f"pneumoview export: {err}\n")
        return 1
    for line in store.quarantined:
        sys.stderr.write(f"pneumoview export: {store.path.name}: {line}\n")
    problems: list[str] = []
    try:
        written = export_gsps(state, args.out, iou_threshold=args.iou, problems=problems)
    except GspsExportError as err:
        sys.stderr.write(f"pneumoview export: {err}\n")
        return 1
    finally:
        store.close()
    for line in problems:
        sys.stderr.write(f"pneumoview export: warning: {line}\n")
    done, total = state.progress()
    sys.stderr.write(
        f"wrote {len(written)} presentation state(s) to {args.out} "
        f"({done} of {total} image(s) reviewed in {args.session}); the labels export's boxes "
        "as closed polylines with their source and score\n"
    )
    left_out = any("no GSPS written" in line for line in problems)
    return 1 if left_out else 0
