"""Detection → Improve model… (Ctrl+I) in the real window: a separate process, versions, switching."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6 import QtCore

from tests.detector.improve.conftest import reviewed_session, tiny_model


@pytest.mark.slow
def test_ctrl_i_improves_lists_the_version_and_switches_to_it(
    qtbot, make_main_window, tmp_path: Path
) -> None:
    session = reviewed_session(tmp_path, 24)
    (tmp_path / "models").mkdir()
    model = tiny_model(tmp_path / "models" / "tiny.pt", -12.0)
    window = make_main_window()
    assert window.review.open_session(session)
    with qtbot.waitSignal(window.detection.model_ready, timeout=60_000):
        window.load_model(str(model))
    improve = window.detection_ui.improve
    improve.ask = False  # no epochs question, no result dialog
    improve.epochs = 1
    assert improve.panel.versions.count() == 0
    qtbot.keyClick(window, QtCore.Qt.Key.Key_I, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert improve.job is not None and improve.panel.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: improve.last_result is not None, timeout=300_000)
    version = tmp_path / "read.sqlite.models" / "tiny-v1.pt"
    assert improve.last_result["checkpoint"] == str(version)
    assert improve.panel.versions.count() == 1
    assert improve.panel.versions.itemText(0).startswith("tiny-v1: RSNA ")
    with qtbot.waitSignal(window.detection.model_ready, timeout=60_000):
        qtbot.mouseClick(improve.panel.use_button, QtCore.Qt.MouseButton.LeftButton)
    assert window.detection.model_path == str(version)
