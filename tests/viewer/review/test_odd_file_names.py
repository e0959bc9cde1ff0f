"""A file name that is not UTF-8 (a Latin-1 name on Linux) joins the review like any other."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore

from tests.viewer.conftest import open_and_wait

Key = QtCore.Qt.Key


@pytest.mark.skipif(os.name == "nt", reason="Windows file names are UTF-16, never undecodable")
def test_latin1_file_name_is_reviewed_and_kept_across_a_restart(
    qtbot, make_main_window, make_dicom, tmp_path: Path
) -> None:
    """Issue 21 (5): the image opens, Space marks it reviewed, the mark survives reopening."""
    folder = tmp_path / "study"
    good = make_dicom("good.dcm", pixels=np.full((64, 64), 90, np.uint8), folder=folder)
    odd = make_dicom("odd.dcm", pixels=np.full((64, 64), 30, np.uint8), folder=folder)
    latin1 = os.fsdecode(os.fsencode(str(folder)) + b"/caf\xe9-latin1.dcm")
    os.rename(odd, latin1)
    win = make_main_window()
    open_and_wait(qtbot, win, [str(folder)])
    names = sorted(Path(inst.path).name for inst in win.state.images())
    assert names == [Path(latin1).name, good.name]
    assert not win.problems.problems
    while Path(win.state.current.path).name != Path(latin1).name:
        qtbot.keyClick(win.canvas, Key.Key_PageDown)
    qtbot.keyClick(win.canvas, Key.Key_Space)
    qtbot.waitUntil(lambda: win.review.review_progress()[0] == 1, timeout=5_000)
    win.close()

    again = make_main_window()
    open_and_wait(qtbot, again, [str(folder)])
    reviewed = [
        Path(inst.path).name for inst in again.state.images() if again.state.is_reviewed(inst)
    ]
    assert reviewed == [Path(latin1).name]
