"""A long session (open and close big folders) ends cleanly: no none_dealloc/bool_dealloc abort."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from detector.imaging.dicom_write import new_image_dataset, save_dataset

ROOT = Path(__file__).resolve().parents[2]

# Runs in a child process, so that an abort fails the test instead of killing pytest. The real
# event loop drives it: open the folder, wait for the scan and thumbnails, Close all, repeat.
CYCLES_SCRIPT = """
import sys
from PySide6 import QtCore
from viewer.platform.qt_app import create_app
from viewer.main_window import MainWindow

folder, cycles = sys.argv[1], int(sys.argv[2])
app = create_app()
window = MainWindow()
window.persist_preferences = False
window.show()
opened = []

def step():
    if window.is_scanning or window.thumbnails_pending:
        return
    if window.state.images():
        opened.append(len(window.state.images()))
        window.close_all()
    if len(opened) == cycles:
        timer.stop()
        window.close()
        app.quit()
        return
    window.open_paths([folder])

timer = QtCore.QTimer()
timer.timeout.connect(step)
timer.start(10)
app.exec()
print("opened", *opened)
"""


@pytest.mark.slow
def test_open_and_close_2000_images_three_times(tmp_path: Path) -> None:
    """2,000 images opened and closed three times in one process, then quit: exit code 0."""
    folder = tmp_path / "big"
    folder.mkdir()
    n_images = 2000
    for i in range(n_images):
        pixels = np.full((8, 8), i % 251, np.uint8)
        ds = new_image_dataset(pixels, InstanceNumber=i + 1, SeriesInstanceUID="1.2.3.4")
        save_dataset(ds, folder / f"im{i:04d}.dcm")
    env = dict(os.environ)
    env.update(
        QT_QPA_PLATFORM="offscreen",
        PNEUMOVIEW_CONFIG_DIR=str(tmp_path / "config"),
        PNEUMOVIEW_CACHE_DIR=str(tmp_path / "cache"),
        PYTHONPATH=str(ROOT),
    )
    proc = subprocess.run(
        [sys.executable, "-c", CYCLES_SCRIPT, str(folder), "3"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "Fatal Python error" not in proc.stderr, proc.stderr[-2000:]
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["opened", "2000", "2000", "2000"]
