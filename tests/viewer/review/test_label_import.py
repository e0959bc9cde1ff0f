"""File -> Import ground truth: a big labels CSV is read in a worker; the window keeps working,
the status bar shows the lines read, Cancel imports nothing (issue 21, "Also seen")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from detector.review import BoxKind
from tests.viewer.conftest import open_and_wait
from viewer.review.keys import key_for

ROWS = 200_000


@pytest.fixture
def window(qtbot, make_main_window, make_dicom, tmp_path: Path):
    """A window with p1.dcm and p2.dcm open (patientIds p1 and p2)."""
    folder = tmp_path / "study"
    for i in (1, 2):
        make_dicom(
            f"p{i}.dcm",
            pixels=np.full((128, 128), 60 * i, np.uint8),
            folder=folder,
            InstanceNumber=i,
            StudyInstanceUID="1.2.3",
            SeriesInstanceUID="1.2.3.4",
        )
    win = make_main_window()
    open_and_wait(qtbot, win, [str(folder)])
    return win


@pytest.fixture
def big_labels(tmp_path: Path) -> Path:
    """200,000 rows: one box for p1 first, one for p2 last, one box each for 199,998 patients
    that are not open."""
    path = tmp_path / "labels.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("patientId,x,y,width,height,Target\n")
        fh.write("p1,10,20,30,40,1\n")
        fh.writelines(f"q{i},{i % 90},{i % 70},20,30,1\n" for i in range(ROWS - 2))
        fh.write("p2,5,5,10,10,1\n")
    return path


def _choose_file(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """The file dialog answers ``path`` (the import itself runs for real)."""
    monkeypatch.setattr(
        QtWidgets.QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), "CSV (*.csv)")
    )


def _truth(window) -> list[tuple]:
    review = window.review.review
    return [b.xyxy for key in review.images for b in review.boxes(key, kind=BoxKind.GROUND_TRUTH)]


def test_window_keeps_working_during_import_and_cancel_imports_nothing(
    qtbot, window, big_labels, monkeypatch
):
    _choose_file(monkeypatch, big_labels)
    images = window.state.images()
    assert window.state.current is images[0]
    ticks: list[int] = []
    timer = QtCore.QTimer(window)
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    progress = window.findChild(QtWidgets.QProgressBar, "import_progress")
    cancel = window.findChild(QtWidgets.QToolButton, "import_cancel")

    window.review_files.act_import.trigger()  # before: returned only after the whole import

    # The status bar counts the lines read while the worker reads them.
    qtbot.waitUntil(lambda: progress.isVisible() and progress.value() > 0, timeout=20_000)
    assert progress.maximum() == ROWS + 1 and progress.value() < ROWS + 1
    assert ticks  # the event loop keeps turning: the timer fired
    # A key on the canvas is handled while the import runs: Down shows the next image.
    qtbot.keyClick(window.canvas, QtCore.Qt.Key.Key_Down)
    assert window.state.current is images[1]
    assert cancel.isVisible()
    assert _truth(window) == []

    qtbot.mouseClick(cancel, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not progress.isVisible(), timeout=20_000)
    timer.stop()
    assert window.statusBar().currentMessage() == "labels.csv: import cancelled; nothing imported"
    assert not cancel.isVisible()
    assert _truth(window) == []
    assert dict(window.review.review.pending_truth) == {}


def test_import_in_the_background_adds_every_box(qtbot, window, big_labels, monkeypatch):
    _choose_file(monkeypatch, big_labels)
    progress = window.findChild(QtWidgets.QProgressBar, "import_progress")
    window.review_files.act_import.trigger()
    qtbot.waitUntil(lambda: progress.isVisible(), timeout=20_000)
    qtbot.waitUntil(lambda: not progress.isVisible(), timeout=120_000)
    assert window.statusBar().currentMessage() == (
        "labels.csv: 2 box(es) added on 2 open image(s); 199998 patient(s) not open"
        " (199998 box(es) kept for when they are opened)"
    )
    review = window.review.review
    p1, p2 = (key_for(i) for i in window.state.images())
    assert [b.xyxy for b in review.boxes(p1, kind=BoxKind.GROUND_TRUTH)] == [(10, 20, 40, 60)]
    assert [b.xyxy for b in review.boxes(p2, kind=BoxKind.GROUND_TRUTH)] == [(5, 5, 15, 15)]
    assert len(review.pending_truth) == 199_998
    assert review.pending_truth["q7"] == [((7, 7, 27, 37), "labels.csv")]


def test_a_second_import_while_one_runs_is_refused_in_one_line(
    qtbot, window, big_labels, monkeypatch
):
    _choose_file(monkeypatch, big_labels)
    progress = window.findChild(QtWidgets.QProgressBar, "import_progress")
    window.review_files.act_import.trigger()
    qtbot.waitUntil(lambda: progress.isVisible(), timeout=20_000)
    window.review_files.act_import.trigger()
    assert window.statusBar().currentMessage() == (
        "labels.csv: not imported; labels.csv is still being imported"
    )
    window.review_files.label_import.cancel()
    qtbot.waitUntil(lambda: not progress.isVisible(), timeout=20_000)


def test_an_unusable_file_is_one_line(qtbot, window, tmp_path, monkeypatch):
    bad = tmp_path / "notes.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    _choose_file(monkeypatch, bad)
    progress = window.findChild(QtWidgets.QProgressBar, "import_progress")
    window.review_files.act_import.trigger()
    qtbot.waitUntil(
        lambda: (
            not progress.isVisible()
            and window.statusBar().currentMessage().startswith("notes.csv: not a labels CSV")
        ),
        timeout=20_000,
    )
    assert _truth(window) == []


def test_closing_the_window_stops_the_import(qtbot, window, big_labels, monkeypatch):
    """The read stops at once (the window does not wait for the whole file); nothing is added."""
    _choose_file(monkeypatch, big_labels)
    progress = window.findChild(QtWidgets.QProgressBar, "import_progress")
    importer = window.review_files.label_import
    window.review_files.act_import.trigger()
    qtbot.waitUntil(lambda: progress.isVisible() and progress.value() > 0, timeout=20_000)
    seen: list[tuple[int, int]] = []
    importer.lines_read.connect(lambda done, total: seen.append((done, total)))
    window.close()
    qtbot.waitUntil(lambda: not importer.running, timeout=20_000)
    assert (ROWS + 1, ROWS + 1) not in seen  # the file was not read to its end
    assert _truth(window) == []
