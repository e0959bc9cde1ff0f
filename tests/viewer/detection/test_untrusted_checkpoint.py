"""A tampered checkpoint opened in the window: one line naming the file and field, no crash.

Issue 21, defect 8: an integer beyond 64 bits in the metadata went through a ``dict``-typed Qt
signal (``model_ready``) and overflowed (a segfault, exit 139). Run in a subprocess, so a crash
fails the test instead of taking pytest with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from detector.model.checkpoint import FORMAT, complete_meta

ROOT = Path(__file__).resolve().parents[3]

#: Opens the main window offscreen, loads the checkpoint, exits when it is ready (0) or
#: refused (3). Logging is set up as ``pneumoview`` sets it up.
SCRIPT = """
import logging, sys
logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s", stream=sys.stderr)
from PySide6 import QtCore
from viewer.platform.qt_app import create_app
from viewer.main_window import MainWindow
app = create_app()
window = MainWindow()
window.persist_preferences = False
window.show()
window.detection.failed.connect(lambda _text: app.exit(3))
window.detection.model_ready.connect(lambda _meta, _device: app.exit(0))
QtCore.QTimer.singleShot(100_000, lambda: app.exit(4))
window.load_model(sys.argv[1])
code = app.exec()
window.close()
sys.exit(code)
"""


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        QT_QPA_PLATFORM="offscreen",
        PNEUMOVIEW_CONFIG_DIR=str(tmp_path / "config"),
        PNEUMOVIEW_CACHE_DIR=str(tmp_path / "cache"),
        PNEUMOVIEW_DATA_DIR=str(tmp_path / "data"),
    )
    return env


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("max_boxes", 10**30, "max_boxes must be a whole number"),
        ("training", {"seed": 2**63}, "metadata field training.seed"),
    ],
)
def test_window_refuses_a_huge_integer_in_one_line(
    tmp_path: Path, field: str, value: object, needle: str
) -> None:
    """The window survives (no signal 11) and prints one line: "<file>: <field ...>"."""
    meta = complete_meta({"arch": "retinanet", "backbone": "mobilenet_v3", "input_size": 64})
    meta[field] = value  # what a tampering tool writes, past save_checkpoint's checks
    path = tmp_path / "tampered.pt"
    torch.save({"format": FORMAT, "version": 1, "state_dict": {}, "meta": meta}, path)
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path)],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3, f"exit {proc.returncode}: {proc.stderr[-2000:]}"
    lines = [line for line in proc.stderr.splitlines() if "tampered.pt" in line]
    assert len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith("WARNING: tampered.pt: ") and needle in lines[0]
    assert "Traceback" not in proc.stderr and "Overflow" not in proc.stderr


def test_model_ready_carries_the_metadata_as_python(qtbot) -> None:
    """model_ready hands receivers the dict itself: no Qt conversion that can overflow."""
    from viewer.detection.controller import DetectionController

    controller = DetectionController()
    meta = {"threshold": 0.5, "training": {"seed": 2**64, "steps": [1, 2]}}
    with qtbot.waitSignal(controller.model_ready, timeout=1000) as blocker:
        controller.model_ready.emit(meta, "CPU")
    assert blocker.args[0] is meta and blocker.args[1] == "CPU"
