"""The scan summary in the status bar counts what the scan did not open (issue 21)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import chest_like
from tests.viewer.conftest import open_and_wait


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_links_to_folders_are_counted_in_the_summary(qtbot, make_main_window, tmp_path):
    """Two symlinked subfolders are not followed (as on the command line) and are counted."""
    for name in ("elsewhere", "other"):
        (tmp_path / name).mkdir()
        Image.fromarray(chest_like(48)).save(tmp_path / name / "far.png")
    folder = tmp_path / "set"
    folder.mkdir()
    Image.fromarray(chest_like(48)).save(folder / "a.png")
    (folder / "labels.csv").write_text("patientId,x,y,width,height,Target\n")
    try:
        os.symlink(tmp_path / "elsewhere", folder / "link1", target_is_directory=True)
        os.symlink(tmp_path / "other", folder / "link2", target_is_directory=True)
    except OSError:
        pytest.skip("cannot create symbolic links here")
    window = make_main_window()
    open_and_wait(qtbot, window, [str(folder)])
    assert [Path(i.path).name for i in window.state.images()] == ["a.png"]
    assert window.scan_status.summary == (
        "1 image open; 1 file skipped (not images); 2 links to folders not followed"
    )
    assert window.statusBar().currentMessage() == window.scan_status.summary


def test_one_link_to_a_folder_reads_in_the_singular(qtbot, make_main_window, tmp_path):
    folder = tmp_path / "set"
    (folder / "real").mkdir(parents=True)
    Image.fromarray(chest_like(48)).save(folder / "real" / "a.png")
    try:
        os.symlink(folder / "real", folder / "again", target_is_directory=True)
    except OSError:
        pytest.skip("cannot create symbolic links here")
    window = make_main_window()
    open_and_wait(qtbot, window, [str(folder)])
    assert window.scan_status.summary == "1 image open; 1 link to a folder not followed"
