"""Viewer benchmarks (issue 3), offscreen.

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_viewer.py [--runs 7] [--files 2000]``.
Prints a Markdown table for docs/PERFORMANCE.md. Baselines are measured in the same run:

* open one 1024x1024 JPEG Baseline file -> first image painted, vs. the imaging core's own
  read time (``load_image`` + ``render``) on the same file (goal <= 1.5x);
* window/level update on a 2500x2048 16-bit image including the paint (goal <= 30 ms), with
  the core's ``render`` alone as the baseline;
* RSS after opening a folder of small generated DICOMs, headers and thumbnails (goal <= 600 MB).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import chest_field, machine_line, print_table  # noqa: E402
from detector.imaging.decode import load_image  # noqa: E402
from detector.imaging.dicom_write import (  # noqa: E402
    compress_jpeg_baseline,
    new_image_dataset,
    save_dataset,
)
from detector.imaging.lut import Window  # noqa: E402
from detector.imaging.render import render  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def chest(shape: tuple[int, int], seed: int, top: int) -> np.ndarray:
    return chest_field(shape, seed) * top


def wait_for(app, signal, action: Callable[[], object], timeout_s: float = 60.0) -> float:
    """Run ``action``, spin the event loop until ``signal`` fires; return when it fired.

    The time is taken inside the slot: ``processEvents`` goes on with other queued events
    after the paint, which is not part of the time to first paint.
    """
    fired: list[float] = []

    def slot(*_args: object) -> None:
        fired.append(time.perf_counter())

    signal.connect(slot)
    action()
    deadline = time.perf_counter() + timeout_s
    while not fired:
        app.processEvents()
        if time.perf_counter() > deadline:
            raise TimeoutError("signal not emitted in time")
        time.sleep(0.0005)
    signal.disconnect(slot)
    return fired[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--files", type=int, default=2000)
    args = parser.parse_args()
    runs = max(5, args.runs)

    tmp = Path(tempfile.mkdtemp(prefix="pv-bench-"))
    os.environ["PNEUMOVIEW_CONFIG_DIR"] = str(tmp / "config")
    from viewer.main_window import MainWindow  # noqa: TID251
    from viewer.platform.qt_app import create_app  # noqa: TID251 - the bench drives the viewer

    app = create_app()
    rss_start = rss_mb()
    window = MainWindow()
    window.persist_preferences = False
    window.resize(1400, 900)
    window.show()
    app.processEvents()

    print(f"Machine: {machine_line()}")
    print(
        f"torch {importlib.metadata.version('torch')} (not imported) | Qt platform: {app.platformName()}"
    )
    print(f"Median of {runs} runs.\n")
    rows = []

    # 1. open -> first paint vs core read time
    jpeg = tmp / "jpeg1024.dcm"
    ds = new_image_dataset(chest((1024, 1024), 1, 255).astype(np.uint8))
    compress_jpeg_baseline(ds)
    save_dataset(ds, jpeg)

    def core_read() -> None:
        render(load_image(str(jpeg)))

    core_read()
    core = []
    for _ in range(runs):
        t0 = time.perf_counter()
        core_read()
        core.append((time.perf_counter() - t0) * 1000)
    viewer = []
    for i in range(runs + 1):
        window.close_all()
        while window.thumbnails_pending or window.is_scanning:  # start from an idle viewer
            app.processEvents()
            time.sleep(0.001)
        for _ in range(3):
            app.processEvents()
        t0 = time.perf_counter()
        t1 = wait_for(app, window.image_shown, lambda: window.open_paths([str(jpeg)]))
        if i:  # first run warms up the thread pool and pyqtgraph
            viewer.append((t1 - t0) * 1000)
    c, v = statistics.median(core), statistics.median(viewer)
    rows.append(
        (
            "Open 1024x1024 JPEG Baseline -> first paint",
            f"{v:.1f} ms",
            f"core read {c:.1f} ms",
            f"{v / c:.2f}x",
            "<= 1.5x",
        )
    )

    # 2. window/level update on 2500x2048 16-bit, including the paint
    big = tmp / "big16.dcm"
    save_dataset(
        new_image_dataset(
            chest((2500, 2048), 2, 4095).astype(np.uint16),
            bits_stored=12,
            WindowCenter=2000,
            WindowWidth=3000,
        ),
        big,
    )
    window.close_all()
    wait_for(app, window.image_shown, lambda: window.open_paths([str(big)]))
    image = window.state.image
    updates, renders = [], []
    for i in range(runs * 4):
        win = Window(1500.0 + 37 * i, 2500.0 + 11 * i)
        t0 = time.perf_counter()
        window.state.set_window(win)
        window.canvas.repaint()
        updates.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        render(image, Window(1400.0 + 37 * i, 2400.0 + 11 * i))
        renders.append((time.perf_counter() - t0) * 1000)
    u, r = statistics.median(updates[2:]), statistics.median(renders[2:])
    rows.append(
        (
            "Window/level update 2500x2048 16-bit (incl. paint)",
            f"{u:.1f} ms",
            f"core render {r:.1f} ms",
            f"{u / r:.2f}x",
            "<= 30 ms",
        )
    )

    # 3. RSS after a folder of small DICOMs (headers + thumbnails)
    folder = tmp / "many"
    folder.mkdir()
    px = chest((256, 256), 3, 255).astype(np.uint8)
    for i in range(args.files):
        d = new_image_dataset(px, PatientID=f"P{i // 4:04d}", InstanceNumber=i % 4 + 1)
        save_dataset(d, folder / f"im{i:05d}.dcm")
    window.close_all()
    app.processEvents()
    rss_before = rss_mb()
    t0 = time.perf_counter()
    done = {"scan": False, "thumbs": False}
    window.scan_finished.connect(lambda: done.__setitem__("scan", True))
    window.thumbnails_finished.connect(lambda: done.__setitem__("thumbs", True))
    window.open_paths([str(folder)])
    while not (done["scan"] and done["thumbs"] and not window.thumbnails_pending):
        app.processEvents()
        time.sleep(0.001)
    elapsed = time.perf_counter() - t0
    rss_after = rss_mb()
    n = len(window.state.images())
    rows.append(
        (
            f"RSS after opening {n} small DICOMs (headers + thumbnails)",
            f"{rss_after:.0f} MB",
            f"before open {rss_before:.0f} MB; app start {rss_start:.0f} MB",
            f"scan+thumbs {elapsed:.1f} s",
            "<= 600 MB",
        )
    )
    window.close()
    app.processEvents()

    print_table(("Measure", "Viewer", "Baseline (same run)", "Ratio / note", "Goal"), rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
