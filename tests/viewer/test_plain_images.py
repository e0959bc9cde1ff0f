"""The viewer opens plain PNG/JPEG chest images like DICOMs (metadata panel, cursor readout)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import chest_like
from tests.viewer.conftest import open_and_wait


def test_png_folder_opens_with_metadata_and_no_problems(qtbot, make_main_window, tmp_path):
    """A folder of a PNG, a JPEG and a labels.csv: two images shown, nothing in Problems."""
    folder = tmp_path / "nih"
    folder.mkdir()
    Image.fromarray(chest_like(48)).save(folder / "00000001_000.png")
    Image.fromarray(chest_like(48).astype(np.uint16) * 200).save(folder / "sixteen.png")
    Image.fromarray(chest_like(48)).save(folder / "view1_frontal.jpg", quality=95)
    (folder / "labels.csv").write_text("patientId,x,y,width,height,Target\n")
    window = make_main_window()
    open_and_wait(qtbot, window, [str(folder)])
    names = sorted(Path(i.path).name for i in window.state.images())
    assert names == ["00000001_000.png", "sixteen.png", "view1_frontal.jpg"]
    assert window.problems.problems == []
    assert [Path(s.path).name for s in window.state.result.skipped] == ["labels.csv"]
    for inst in window.state.images():
        window.state.set_current(inst)
        qtbot.waitUntil(
            lambda inst=inst: (
                window.state.image is not None and window.state.image.path == inst.path
            ),
            timeout=10_000,
        )
        assert window.state.image.is_dicom is False
        assert window.metadata.tree.topLevelItemCount() > 0


def test_side_files_are_counted_and_rulers_say_there_is_no_spacing(
    qtbot, make_main_window, tmp_path
):
    """The status bar counts the skipped side files; a ruler on a PNG is in px and says why."""
    folder = tmp_path / "set"
    folder.mkdir()
    Image.fromarray(chest_like(48)).save(folder / "a.png")
    (folder / "labels.csv").write_text("patientId,x,y,width,height,Target\n")
    (folder / "synth.json").write_text("{}")
    window = make_main_window()
    open_and_wait(qtbot, window, [str(folder)])
    assert "2 files skipped (not images)" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: window.state.image is not None, timeout=10_000)
    qtbot.waitUntil(lambda: window.canvas.no_spacing_note != "no pixel spacing", timeout=10_000)
    ruler = window.canvas.add_ruler((0.0, 0.0), (30.0, 40.0))
    assert ruler.text() == "50.0 px (not DICOM: no pixel spacing)"
