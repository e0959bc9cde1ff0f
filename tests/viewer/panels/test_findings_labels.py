"""The Findings panel's label combo, "equivocal" check and image note: set with real events,
undone with Ctrl+Z, kept across a restart and written to the audit export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from tests.viewer.conftest import open_and_wait

Key = QtCore.Qt.Key
Mod = QtCore.Qt.KeyboardModifier
LEFT = QtCore.Qt.MouseButton.LeftButton


@pytest.fixture
def study(make_dicom, tmp_path: Path) -> tuple[Path, Path, Path]:
    """One image ``pa.dcm`` with one ground-truth box and the classes of a class-info CSV."""
    folder = tmp_path / "study"
    make_dicom("pa.dcm", pixels=np.full((128, 128), 90, np.uint8), folder=folder)
    labels = tmp_path / "labels.csv"
    labels.write_text("patientId,x,y,width,height,Target\npa,10,20,30,40,1\n")
    classes = tmp_path / "class_info.csv"
    classes.write_text("patientId,class\npa,Lung Opacity\nother,Normal\nthird,Normal\n")
    return folder, labels, classes


def _widgets(window) -> tuple[QtWidgets.QComboBox, QtWidgets.QCheckBox]:
    table = window.findings.table
    assert table.rowCount() == 1
    return table.cellWidget(0, 7), table.cellWidget(0, 8)


def _click_check(qtbot, window) -> None:
    """Scroll the Findings table to the "equivocal" cell (as a reader does) and click its box."""
    table = window.findings.table
    table.scrollTo(table.model().index(0, 8))
    check = table.cellWidget(0, 8)
    qtbot.waitUntil(check.isVisible, timeout=5_000)
    option = QtWidgets.QStyleOptionButton()
    check.initStyleOption(option)
    indicator = check.style().subElementRect(
        QtWidgets.QStyle.SubElement.SE_CheckBoxIndicator, option, check
    )
    qtbot.mouseClick(check, LEFT, pos=indicator.center())


def test_label_flag_and_note_survive_restart(qtbot, make_main_window, study, tmp_path):
    folder, labels, classes = study
    win = make_main_window()
    open_and_wait(qtbot, win, [str(folder)])
    # "Normal" is a class of the class-info CSV (its patients are not open): a label choice.
    win.review.import_labels(str(labels), str(classes))
    combo, check = _widgets(win)
    assert [combo.itemText(i) for i in range(combo.count())] == ["Lung Opacity", "Normal"]
    assert combo.currentText() == "Lung Opacity" and not check.isChecked()

    combo.setFocus()
    qtbot.keyClick(combo, Key.Key_Down)
    _click_check(qtbot, win)
    combo, check = _widgets(win)
    assert combo.currentText() == "Normal" and check.isChecked()

    # Ctrl+Z takes the flag back, then the label; Ctrl+Shift+Z brings both back.
    win.canvas.setFocus()
    qtbot.keyClick(win.canvas, Key.Key_Z, Mod.ControlModifier)
    assert not _widgets(win)[1].isChecked()
    qtbot.keyClick(win.canvas, Key.Key_Z, Mod.ControlModifier)
    assert _widgets(win)[0].currentText() == "Lung Opacity"
    qtbot.keyClick(win.canvas, Key.Key_Z, Mod.ControlModifier | Mod.ShiftModifier)
    qtbot.keyClick(win.canvas, Key.Key_Z, Mod.ControlModifier | Mod.ShiftModifier)
    combo, check = _widgets(win)
    assert combo.currentText() == "Normal" and check.isChecked()

    note = win.findings.note_edit
    qtbot.mouseClick(note, LEFT)
    qtbot.keyClicks(note, "rotated, repeat PA")
    qtbot.keyClick(note, Key.Key_Return)
    (key,) = win.review.review.images
    assert win.review.review.image(key).note == "rotated, repeat PA"
    win.canvas.setFocus()
    qtbot.keyClick(win.canvas, Key.Key_Z, Mod.ControlModifier)
    assert note.text() == ""
    qtbot.keyClick(win.canvas, Key.Key_Z, Mod.ControlModifier | Mod.ShiftModifier)
    assert note.text() == "rotated, repeat PA"
    # Esc drops what was typed since the last save.
    qtbot.mouseClick(note, LEFT)
    qtbot.keyClicks(note, " draft")
    qtbot.keyClick(note, Key.Key_Escape)
    assert note.text() == "rotated, repeat PA" and not note.hasFocus()
    assert win.review.review.image(key).note == "rotated, repeat PA"
    win.act_reviewed.trigger()
    win.close()

    again = make_main_window()
    open_and_wait(qtbot, again, [str(folder)])
    combo, check = _widgets(again)
    assert combo.currentText() == "Normal" and check.isChecked()
    assert again.findings.note_edit.text() == "rotated, repeat PA"

    out = tmp_path / "audit.csv"
    again.review.export(str(out), "audit")
    header, row = out.read_text(encoding="utf-8").splitlines()
    assert header.endswith(",box_id,confirms,label,flag,image_note")
    assert row.startswith("pa,10,20,30,40,1,ground_truth,,ground truth,")
    assert row.endswith(',,Normal,equivocal,"rotated, repeat PA"')
