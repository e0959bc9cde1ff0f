"""The "most informative first" order in the window: Shift+U (and the toolbar toggle) switch
the worklist between load order and that order, U opens the next most informative unreviewed
image, Space follows the order, and the session remembers it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from detector.review import ModelInfo
from tests.viewer.conftest import open_and_wait
from viewer.panels.dialogs import shortcut_rows
from viewer.panels.worklist import KEY_ROLE
from viewer.review.keys import key_for

Key = QtCore.Qt.Key
Mod = QtCore.Qt.KeyboardModifier
IDS = ["pa", "pb", "pc", "pd"]


@pytest.fixture
def study(make_dicom, tmp_path: Path) -> Path:
    folder = tmp_path / "study"
    for i, pid in enumerate(IDS):
        make_dicom(
            f"{pid}.dcm",
            pixels=np.full((64, 64), 40 * (i + 1), np.uint8),
            folder=folder,
            InstanceNumber=i + 1,
            StudyInstanceUID="1.2.3",
            SeriesInstanceUID="1.2.3.4",
            PatientID=pid,
        )
    return folder


def _open(qtbot, make_main_window, study: Path):
    win = make_main_window()
    open_and_wait(qtbot, win, [str(study)])
    win.worklist_dock.show()
    win.worklist_dock.raise_()
    win.activateWindow()
    qtbot.waitUntil(lambda: win.worklist.table.rowCount() == 4)
    return win


@pytest.fixture
def window(qtbot, make_main_window, study):
    """Gate 0.5; pa best 0.9 (|d| 0.4), pb not run, pc 0.45 (0.05), pd 0.7 (0.2)."""
    win = _open(qtbot, make_main_window, study)
    review = win.review.review
    review.add_model(ModelInfo("m.pt", threshold=0.5, meta={"threshold": 0.5}))
    keys = [key_for(inst) for inst in win.state.images()]
    for index, score in ((0, 0.9), (2, 0.45), (3, 0.7)):
        review.set_predictions(keys[index], "m.pt", [((5, 5, 30, 30), score)])
    win.review.refresh()
    win.worklist.refresh()
    win.canvas.setFocus()
    return win


def _listed(win) -> list[str]:
    table = win.worklist.table
    ids = {key_for(inst): inst.name for inst in win.state.images()}
    return [ids[table.item(r, 0).data(KEY_ROLE)][:2] for r in range(table.rowCount())]


def _shown(win) -> str:
    return win.state.current.name[:2]


def test_shift_u_orders_the_worklist_most_informative_first(qtbot, window):
    assert _listed(window) == ["pa", "pb", "pc", "pd"]
    qtbot.keyClick(window.canvas, Key.Key_U, Mod.ShiftModifier)
    assert window.worklist.act_worklist_order.isChecked()
    qtbot.waitUntil(lambda: _listed(window) == ["pc", "pd", "pa", "pb"])
    assert "most informative first" in window.worklist.progress_label.text()
    qtbot.keyClick(window.canvas, Key.Key_U, Mod.ShiftModifier)  # back to load order
    assert not window.worklist.act_worklist_order.isChecked()
    qtbot.waitUntil(lambda: _listed(window) == ["pa", "pb", "pc", "pd"])


def test_the_toolbar_button_toggles_the_order(qtbot, window):
    toolbar = window.findChild(QtWidgets.QToolBar, "main_toolbar")
    button = toolbar.widgetForAction(window.worklist.act_worklist_order)
    assert button is not None and button.text() == "Informative first"
    qtbot.mouseClick(button, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _listed(window) == ["pc", "pd", "pa", "pb"])


def test_u_goes_to_the_next_most_informative_unreviewed_image(qtbot, window):
    assert _shown(window) == "pa"  # third in the order (pc, pd, pa, pb)
    seen = []
    for _ in range(4):
        with qtbot.waitSignal(window.image_shown, timeout=15_000):
            qtbot.keyClick(window.canvas, Key.Key_U)
        seen.append(_shown(window))
    # After pa comes pb (not run), then the order wraps: pc, pd, then pa again.
    assert seen == ["pb", "pc", "pd", "pa"]


def test_space_follows_the_informative_order(qtbot, window):
    qtbot.keyClick(window.canvas, Key.Key_U, Mod.ShiftModifier)
    with qtbot.waitSignal(window.image_shown, timeout=15_000):
        qtbot.keyClick(window.canvas, Key.Key_Space)  # pa reviewed: on to the top, pc
    assert _shown(window) == "pc"
    with qtbot.waitSignal(window.image_shown, timeout=15_000):
        qtbot.keyClick(window.canvas, Key.Key_Space)
    assert _shown(window) == "pd"


def test_a_header_click_turns_the_order_off(qtbot, window):
    qtbot.keyClick(window.canvas, Key.Key_U, Mod.ShiftModifier)
    header = window.worklist.table.horizontalHeader()
    x = header.sectionViewportPosition(0) + 5
    qtbot.mouseClick(header.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=QtCore.QPoint(x, 5))
    assert not window.worklist.act_worklist_order.isChecked()


def test_keys_are_listed_in_help_shortcuts(window):
    rows = dict(shortcut_rows(window.actions_made.actions))
    assert rows["Next most informative unreviewed image"] == "U"
    assert rows["Worklist: most informative first"] == "Shift+U"


def test_the_session_remembers_the_order(qtbot, make_main_window, study, window):
    qtbot.keyClick(window.canvas, Key.Key_U, Mod.ShiftModifier)
    session = window.review.session_path
    assert session is not None
    window.close()

    again = _open(qtbot, make_main_window, study)
    assert again.review.session_path == session
    assert again.worklist.act_worklist_order.isChecked()
    assert again.review.worklist.column == "informative"
    # The model's runs came back with the session: the same order as before.
    qtbot.waitUntil(lambda: _listed(again) == ["pc", "pd", "pa", "pb"])
