"""The study tree: a one-image patient is one row; a multi-image study keeps the hierarchy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore

from tests.viewer.conftest import open_and_wait

Key = QtCore.Qt.Key


@pytest.fixture
def worklist(make_dicom, tmp_path: Path) -> Path:
    """Two patients with one chest X-ray each, one patient with a two-image series."""
    folder = tmp_path / "worklist"
    for name, pid, date in (("a.dcm", "PA", "20240102"), ("b.dcm", "PB", "20240103")):
        make_dicom(
            name,
            pixels=np.full((64, 64), 80, np.uint8),
            folder=folder,
            PatientID=pid,
            PatientName=f"{pid}^Test",
            StudyDate=date,
        )
    for i in (1, 2):
        make_dicom(
            f"c{i}.dcm",
            pixels=np.full((64, 64), 40 * i, np.uint8),
            folder=folder,
            PatientID="PC",
            PatientName="PC^Test",
            StudyInstanceUID="1.2.9",
            SeriesInstanceUID="1.2.9.1",
            InstanceNumber=i,
        )
    return folder


def _click(qtbot, browser, item) -> None:
    rect = browser.visualItemRect(item)
    qtbot.mouseClick(browser.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=rect.center())


def test_one_image_patient_is_one_row(qtbot, make_main_window, worklist):
    """Clicking the one row shows its image; Down/Up and the reviewed mark still work."""
    window = make_main_window()
    open_and_wait(qtbot, window, [str(worklist)])
    browser = window.browser
    assert browser.topLevelItemCount() == 3
    tops = [browser.topLevelItem(i) for i in range(3)]
    texts = [t.text(0) for t in tops]
    assert texts[0] == "PA, Test  [PA]  2024-01-02"
    assert texts[1] == "PB, Test  [PB]  2024-01-03"
    assert tops[0].childCount() == 0 and tops[1].childCount() == 0
    # The two-image patient keeps patient > study > series > image.
    assert tops[2].childCount() == 1
    assert tops[2].child(0).child(0).childCount() == 2

    by_name = {inst.name: inst for inst in window.state.images()}
    with qtbot.waitSignal(window.image_shown, timeout=15_000):
        _click(qtbot, browser, tops[1])
    assert window.state.current is by_name["b.dcm"]
    assert browser.item_for(by_name["b.dcm"]) is tops[1]

    browser.setFocus()
    with qtbot.waitSignal(window.image_shown, timeout=15_000):
        qtbot.keyClick(browser, Key.Key_Up)
    assert window.state.current is by_name["a.dcm"]
    assert browser.currentItem() is tops[0]

    window.act_reviewed.trigger()
    assert tops[0].text(1) == "\u2713"
    with qtbot.waitSignal(window.image_shown, timeout=15_000):
        qtbot.keyClick(browser, Key.Key_Down)
    assert browser.currentItem() is tops[1] and tops[1].text(1) == ""


def test_second_image_of_a_patient_builds_the_hierarchy(
    qtbot, make_main_window, make_dicom, tmp_path
):
    """Opening a second image of a one-row patient turns the row into the full tree."""
    first = make_dicom(
        "x1.dcm",
        folder=tmp_path / "one",
        PatientID="PX",
        InstanceNumber=1,
        StudyInstanceUID="1.5",
        SeriesInstanceUID="1.5.1",
    )
    second = make_dicom(
        "x2.dcm",
        folder=tmp_path / "two",
        PatientID="PX",
        InstanceNumber=2,
        StudyInstanceUID="1.5",
        SeriesInstanceUID="1.5.1",
    )
    window = make_main_window()
    open_and_wait(qtbot, window, [str(first)])
    browser = window.browser
    assert browser.topLevelItemCount() == 1 and browser.topLevelItem(0).childCount() == 0
    window.act_reviewed.trigger()
    open_and_wait(qtbot, window, [str(first), str(second)], images=False)
    assert browser.topLevelItemCount() == 1
    series = browser.topLevelItem(0).child(0).child(0)
    assert series.childCount() == 2
    assert series.child(0).text(0) == "Im 1  x1.dcm" and series.child(0).text(1) == "\u2713"
