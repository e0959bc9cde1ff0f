"""A big labels CSV imported in the window (issue 21, "Also seen"), offscreen.

Run: ``QT_QPA_PLATFORM=offscreen OMP_NUM_THREADS=1 .venv/bin/python bench/bench_label_import.py
[--rows 1000000]``. Prints a Markdown table for docs/PERFORMANCE.md.

Two demo images are open; the generated CSV has ``--rows`` rows (a third ``Target=0``, the rest
one box each; two rows per patientId, so about half as many patients, nearly none open: their
boxes are kept in the session). For each way of importing, on a fresh session: the time from
the start to the summary line, and the longest gap between the ticks of a 10 ms QTimer
(a GUI stall). Baseline (same run): the synchronous import the File menu used before
(``ReviewController.import_labels``, still what ``pneumoview --labels`` uses at start-up).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_review_gui import spin_until  # noqa: E402
from bench.common import machine_line, print_table  # noqa: E402


def write_labels(path: Path, rows: int) -> None:
    """``rows`` rows, two per patientId, a third of them ``Target=0``."""
    with path.open("w", encoding="utf-8") as fh:
        fh.write("patientId,x,y,width,height,Target\n")
        for i in range(rows):
            if i % 3 == 0:
                fh.write(f"p{i // 2},,,,,0\n")
            else:
                fh.write(f"p{i // 2},{i % 500},{(i * 7) % 500},{20 + i % 50},{30 + i % 40},1\n")


def timed(app, start, done, read_end: list[float] | None = None) -> tuple[float, float, int, float]:
    """(seconds to ``done()``, longest 10 ms timer gap in ms, ticks, longest gap in ms before
    ``read_end[0]``, when given) for ``start()``."""
    from PySide6 import QtCore

    ticks: list[float] = []
    timer = QtCore.QTimer()
    timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    spin_until(app, lambda: len(ticks) >= 3, 10)  # the timer runs before the import starts
    t0 = time.perf_counter()
    start()
    spin_until(app, done, 1800)
    seconds = time.perf_counter() - t0
    spin_until(app, lambda: ticks[-1] > t0 + seconds, 10)  # the tick after the end
    timer.stop()
    pairs = [(a, b) for a, b in zip(ticks, ticks[1:], strict=False) if b >= t0]
    gaps = [(b - a) * 1000 for a, b in pairs]
    reading = [(b - a) * 1000 for a, b in pairs if read_end and b <= read_end[0]]
    return seconds, max(gaps), len(ticks), max(reading, default=float("nan"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="pv-bench-import-"))
    for name in ("CONFIG", "CACHE", "DATA"):
        os.environ[f"PNEUMOVIEW_{name}_DIR"] = str(tmp / name.lower())
    from detector.synth.phantoms import make_demo_study
    from viewer.main_window import MainWindow  # noqa: TID251 - the bench drives the viewer
    from viewer.platform.qt_app import create_app  # noqa: TID251

    study = make_demo_study(tmp / "study", count=2, size=256)
    files = sorted(str(p) for p in study.glob("*.dcm"))
    labels = tmp / "labels.csv"
    write_labels(labels, args.rows)
    app = create_app()
    window = MainWindow()
    window.persist_preferences = False
    window.resize(1200, 800)
    window.show()
    window.open_paths(files)
    spin_until(app, lambda: len(window.state.images()) == len(files) and not window.is_scanning)
    spin_until(app, lambda: window.canvas.has_image)

    print(f"Machine: {machine_line()}")
    print(
        f"Qt platform: {app.platformName()}; {args.rows:,} rows, {labels.stat().st_size:,} bytes\n"
    )
    lines: list[str] = []
    window.review.message.connect(lines.append)

    # Baseline: the synchronous import, on a fresh session.
    window.review.open_session(str(tmp / "before.sqlite"))
    lines.clear()
    before = timed(
        app, lambda: window.review.import_labels(str(labels)), lambda: "added" in "".join(lines)
    )
    summary_before = lines[-1]

    # The File menu's import now: read in a worker, applied in one step.
    window.review.open_session(str(tmp / "after.sqlite"))
    lines.clear()
    importer = window.review_files.label_import
    read_end: list[float] = []
    importer.lines_read.connect(
        lambda done, total: read_end.append(time.perf_counter()) if done == total else None
    )
    after = timed(
        app,
        lambda: importer.start(str(labels)),
        lambda: not importer.running and any("added" in t for t in lines),
        read_end,
    )
    summary_after = lines[-1]
    assert summary_after == summary_before, (summary_before, summary_after)
    print(f"Both: {summary_after}\n")
    window.close()

    print_table(
        ("measurement", "PneumoView (worker)", "baseline: synchronous import (same run)"),
        [
            (
                f"import a {args.rows:,}-row labels CSV: start -> summary",
                f"{after[0]:.1f} s",
                f"{before[0]:.1f} s",
            ),
            (
                "longest gap between 10 ms timer ticks meanwhile",
                f"{after[1]:.0f} ms ({after[2]} ticks)",
                f"{before[1]:.0f} ms ({before[2]} ticks)",
            ),
            (
                "longest timer gap while the CSV is read (before the one-step apply)",
                f"{after[3]:.0f} ms",
                "(no separate read phase: the whole import is one stall)",
            ),
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
