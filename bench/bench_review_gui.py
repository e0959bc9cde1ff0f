"""Review GUI benchmarks (issue 8), offscreen.

Run: ``QT_QPA_PLATFORM=offscreen OMP_NUM_THREADS=1 .venv/bin/python bench/bench_review_gui.py
[--runs 15] [--images 12]``. Prints a Markdown table for docs/PERFORMANCE.md.

* The longest gap between the ticks of a 10 ms QTimer while the detector (the shipped demo
  model, on the CPU) runs on every open image in the background (goal <= 50 ms); baseline: the
  longest gap of the same timer over the same time with the window idle.
* Next image (already decoded) -> painted with its boxes (ground truth + predictions; goal
  <= 16 ms); baseline: the same navigation before the images had any box.
* The longest gap between the same timer's ticks while Detection -> Improve model... (the
  window's real path: Ctrl+I, ``pneumoview improve`` in a separate process reporting JSON
  progress lines to the dock) fine-tunes the loaded model on ``--improve-images`` reviewed
  phantoms (a session built as the window builds it: ground truth imported, each image marked
  reviewed) for ``--improve-epochs`` epochs on the CPU (goal <= 50 ms; issue 19).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine_line, print_table  # noqa: E402


def spin_until(app, done, timeout_s: float = 600.0) -> None:
    deadline = time.perf_counter() + timeout_s
    while not done():
        app.processEvents()
        if time.perf_counter() > deadline:
            raise TimeoutError("timed out")
        time.sleep(0.0005)


def max_tick_gap(app, seconds: float | None, until=None) -> tuple[float, int]:
    """Longest gap (ms) between 10 ms QTimer ticks, for ``seconds`` or until ``until()``."""
    from PySide6 import QtCore

    ticks: list[float] = []
    timer = QtCore.QTimer()
    timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    end = time.perf_counter() + (seconds or 0)
    spin_until(app, (lambda: time.perf_counter() > end) if until is None else until)
    timer.stop()
    gaps = [(b - a) * 1000 for a, b in zip(ticks, ticks[1:], strict=False)]
    return (max(gaps) if gaps else float("nan")), len(ticks)


def navigate_times(app, window, runs: int) -> list[float]:
    """ms from ``set_current(next)`` to the ``image_shown`` paint, cycling through the images."""
    images = window.state.images()
    out = []
    for i in range(runs + 1):
        target = images[(window.state.index_of(window.state.current) + 1) % len(images)]
        shown: list[float] = []

        def slot(_inst: object, shown: list[float] = shown) -> None:
            shown.append(time.perf_counter())

        window.image_shown.connect(slot)
        t0 = time.perf_counter()
        window.state.set_current(target)
        spin_until(app, lambda shown=shown: bool(shown), 30)
        window.image_shown.disconnect(slot)
        if i:
            out.append((shown[0] - t0) * 1000)
        for _ in range(3):
            app.processEvents()
    return out


def reviewed_session(folder: Path, count: int) -> Path:
    """``count`` phantoms, ground truth imported and each marked reviewed (as in the window)."""
    from detector.files.identity import identify
    from detector.review.importing import import_labels
    from detector.review.store import open_session
    from detector.synth.phantoms import synthesize

    synthesize(folder / "images", count, size=256, seed=19)
    session = folder / "read.sqlite"
    state, store = open_session(session, reviewer="bench")
    try:
        state.add_images(identify(str(p)) for p in sorted((folder / "images").glob("*.dcm")))
        import_labels(state, folder / "images" / "labels.csv")
        for key in list(state.images):
            state.mark_reviewed(key)
    finally:
        store.close()
    return session


def improve_gap(app, window, tmp: Path, images: int, epochs: int) -> tuple[str, str, str, str]:
    """Timer gaps while Ctrl+I's Improve job runs (the loaded model, the open session)."""
    from PySide6 import QtCore
    from PySide6.QtTest import QTest

    session = reviewed_session(tmp / "improve", images)
    assert window.review.open_session(str(session))
    improve = window.detection_ui.improve
    improve.ask = False  # no epochs question, no result dialog
    improve.epochs = epochs
    events: list[object] = []
    t0 = time.perf_counter()
    QTest.keyClick(window, QtCore.Qt.Key.Key_I, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert improve.job is not None, "Ctrl+I started no Improve job"
    improve.job.progress.connect(events.append)
    job = improve.job
    gap, ticks = max_tick_gap(app, None, until=lambda: not job.running)
    seconds = time.perf_counter() - t0
    app.processEvents()
    idle_gap, _ = max_tick_gap(app, min(seconds, 30.0))
    verdict = improve.panel.status.text()
    return (
        f"longest gap between 10 ms timer ticks while Improve model trains ({images} reviewed "
        f"phantoms, {epochs} epoch(s), CPU, separate process)",
        f"{gap:.1f} ms ({ticks} ticks over {seconds:.0f} s, {len(events)} progress events; "
        f"{verdict})",
        f"idle window, {min(seconds, 30.0):.0f} s: {idle_gap:.1f} ms",
        "<= 50 ms",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--improve-images", type=int, default=40, help="reviewed phantoms")
    parser.add_argument("--improve-epochs", type=int, default=1)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="pv-bench-review-"))
    for name in ("CONFIG", "CACHE", "DATA"):
        os.environ[f"PNEUMOVIEW_{name}_DIR"] = str(tmp / name.lower())
    from detector.synth.phantoms import make_demo_study
    from viewer.main_window import MainWindow  # noqa: TID251
    from viewer.platform.qt_app import create_app  # noqa: TID251 - the bench drives the viewer
    from viewer.platform.user_folders import default_model_path  # noqa: TID251

    study = make_demo_study(tmp / "study", count=args.images, size=512)
    files = sorted(str(p) for p in study.glob("*.dcm"))
    app = create_app()
    window = MainWindow()
    window.persist_preferences = False
    window.resize(1400, 900)
    window.show()
    window.open_paths(files)
    spin_until(app, lambda: len(window.state.images()) == len(files) and not window.is_scanning)
    spin_until(app, lambda: not window.thumbnails_pending)
    # Decode every image once (the navigation rows time "already decoded" images).
    for _ in range(len(files)):
        shown: list[object] = []
        window.image_shown.connect(shown.append)
        window.navigate(1)
        last = window.state.images()[-1]
        spin_until(app, lambda s=shown, e=last: bool(s) or window.state.current is e)
        window.image_shown.disconnect(shown.append)
    window.state.go_to(0)
    spin_until(app, lambda: window.canvas.has_image)

    print(f"Machine: {machine_line()} (shared with other jobs: numbers are noisy)")
    print(f"Qt platform: {app.platformName()}; {len(files)} images of 512x512; runs {args.runs}\n")
    rows = []

    # 2 (baseline first): next image -> painted, no boxes yet.
    bare = statistics.median(navigate_times(app, window, args.runs))

    # 1. timer gaps while the detector runs on all images (CPU), vs idle.
    model = default_model_path()
    assert model is not None, "resources/models/demo.pt is missing"
    window.detection.device_request = "cpu"
    ready: list[object] = []
    window.detection.model_ready.connect(lambda *_a: ready.append(1))
    window.load_model(str(model))
    spin_until(app, lambda: bool(ready))
    finished: list[bool] = []
    window.detection.run_finished.connect(finished.append)
    t0 = time.perf_counter()
    window.detect_all()
    busy_gap, busy_ticks = max_tick_gap(app, None, until=lambda: bool(finished))
    seconds = time.perf_counter() - t0
    idle_gap, _ = max_tick_gap(app, seconds)
    rows.append(
        (
            "longest gap between 10 ms timer ticks while detecting (demo model, CPU)",
            f"{busy_gap:.1f} ms ({busy_ticks} ticks, {len(files) / seconds:.1f} images/s)",
            f"idle window, same {seconds:.1f} s: {idle_gap:.1f} ms",
            "<= 50 ms",
        )
    )

    # 2. next image -> painted with its boxes (ground truth added to every image too).
    review = window.review.review
    for inst in window.state.images():
        key = window.review.key_of(inst)
        review.add_ground_truth(key, [(100, 120, 180, 260), (300, 150, 380, 300)], "bench")
    n_boxes = len(window.review.views(window.current_key()))
    boxed = statistics.median(navigate_times(app, window, args.runs))
    rows.append(
        (
            "next image (decoded) -> painted with its boxes",
            f"{boxed:.1f} ms (~{n_boxes} boxes per image)",
            f"same navigation without boxes: {bare:.1f} ms",
            "<= 16 ms",
        )
    )
    rows.append(improve_gap(app, window, tmp, args.improve_images, args.improve_epochs))
    window.close()

    print_table(("measurement", "PneumoView", "baseline (same run)", "goal"), rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
