"""Issue 16, item 12: the shortcut list, the Load model folder, keeping window/level."""

from __future__ import annotations

import shutil

from PySide6 import QtCore, QtWidgets

from tests.viewer.conftest import open_and_wait
from viewer.panels.dialogs import ShortcutsDialog
from viewer.platform.user_folders import models_dir

Key = QtCore.Qt.Key


def _open_shortcuts(qtbot, window) -> ShortcutsDialog:
    qtbot.keyClick(window, Key.Key_F1)
    dialogs = [
        w for w in QtWidgets.QApplication.topLevelWidgets() if isinstance(w, ShortcutsDialog)
    ]
    assert len(dialogs) == 1
    dialog = dialogs[0]
    qtbot.waitExposed(dialog)
    return dialog


def test_f1_lists_shift_tab_and_shows_the_whole_window_level_row(qtbot, make_main_window, study):
    window = make_main_window()
    open_and_wait(qtbot, window, [str(study)])
    dialog = _open_shortcuts(qtbot, window)
    try:
        table = dialog.table
        rows = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
        assert rows["Select previous box"] == "Shift+Tab"
        assert not [k for k in rows.values() if "Backtab" in k]
        row = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == "Window/level")
        cell = table.visualItemRect(table.item(row, 1))
        viewport = table.viewport().rect()
        assert viewport.left() <= cell.left() and cell.right() <= viewport.right()
        text = table.item(row, 1).text()
        needed = table.fontMetrics().boundingRect(
            QtCore.QRect(0, 0, cell.width() - 8, 10_000),
            int(QtCore.Qt.TextFlag.TextWordWrap),
            text,
        )
        assert needed.height() > table.fontMetrics().height()  # it does wrap
        assert cell.height() >= needed.height()  # and the row is tall enough for it
    finally:
        dialog.close()


def test_load_model_starts_in_the_models_folder(qtbot, make_main_window, tmp_path, monkeypatch):
    """Not the image folder: the shipped models first, then the loaded model's folder."""
    asked: list[str] = []

    def fake_dialog(_parent, _title, folder, _filter):
        asked.append(folder)
        return "", ""

    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName", fake_dialog)
    window = make_main_window()
    window.prefs.last_folder = str(tmp_path)  # an image folder opened earlier
    button = window.detection_panel.load_button
    qtbot.mouseClick(button, QtCore.Qt.MouseButton.LeftButton)
    assert asked == [str(models_dir())]
    mine = tmp_path / "mine" / "m.pt"
    mine.parent.mkdir()
    shutil.copy(models_dir() / "demo.pt", mine)
    with qtbot.waitSignal(window.detection.model_ready, timeout=60_000):
        window.load_model(str(mine))
    qtbot.mouseClick(button, QtCore.Qt.MouseButton.LeftButton)
    assert asked[-1] == str(mine.parent)


def test_keep_window_level_across_images(qtbot, make_main_window, study, settings_path):
    window = make_main_window()
    open_and_wait(qtbot, window, [str(study)])
    keep = window.act_keep_window
    assert not keep.isChecked()
    qtbot.keyClick(window.canvas, Key.Key_2)  # a window preset
    chosen = window.state.window
    assert chosen is not None
    with qtbot.waitSignal(window.image_shown, timeout=15_000):
        qtbot.keyClick(window.canvas, Key.Key_PageDown)
    assert window.state.window is None  # the default: each image its own window

    keep.trigger()  # View -> Keep window/level across images
    qtbot.keyClick(window.canvas, Key.Key_2)
    chosen = window.state.window
    with qtbot.waitSignal(window.image_shown, timeout=15_000):
        qtbot.keyClick(window.canvas, Key.Key_PageDown)
    assert window.state.window == chosen and window.state.preset == "Lung"
    assert window.window_control is not None
    window.close()

    again = make_main_window()
    assert again.act_keep_window.isChecked() and again.state.keep_window
