"""Viewer fixtures: isolated settings and cache folders, a main-window factory that checks for
leaked top-level widgets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _isolated_user_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read or write the developer's settings or cache."""
    monkeypatch.setenv("PNEUMOVIEW_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("PNEUMOVIEW_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PNEUMOVIEW_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def settings_path(tmp_path: Path) -> Path:
    return tmp_path / "config" / "pneumoview.ini"


@pytest.fixture
def make_main_window(qtbot, settings_path: Path) -> Iterator[Callable[..., object]]:
    """Factory for shown MainWindows on an isolated settings file; fails on leaked windows."""
    import pyqtgraph as pg
    from PySide6 import QtCore, QtWidgets

    from viewer.main_window import MainWindow
    from viewer.platform.settings import open_qsettings

    pg.setConfigOptions(imageAxisOrder="row-major")
    app = QtWidgets.QApplication.instance()
    before = {id(w) for w in app.topLevelWidgets()}
    made: list[MainWindow] = []

    def _make(**kwargs: object) -> MainWindow:
        window = MainWindow(settings=open_qsettings(settings_path), **kwargs)
        window.resize(1000, 700)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        made.append(window)
        return window

    yield _make
    for window in made:
        window.close()
        window.deleteLater()
    QtWidgets.QApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
    QtWidgets.QApplication.processEvents()
    leaked = [w for w in app.topLevelWidgets() if id(w) not in before]
    assert not leaked, f"top-level widgets left open: {leaked}"


def open_and_wait(qtbot, window, paths: list[str], *, images: bool = True) -> None:
    """Open paths and wait until the scan ends (and the first image is painted)."""
    if images:
        with qtbot.waitSignals([window.scan_finished, window.image_shown], timeout=15_000):
            window.open_paths(paths)
    else:
        with qtbot.waitSignal(window.scan_finished, timeout=15_000):
            window.open_paths(paths)


def break_pixels(path: Path) -> Path:
    """Zero the inside of a JPEG Baseline DICOM's stream: the header reads, the pixels do not."""
    data = bytearray(path.read_bytes())
    soi = data.index(b"\xff\xd8\xff")
    data[soi + 20 : soi + 400] = b"\x00" * 380
    path.write_bytes(bytes(data))
    return path


@pytest.fixture
def study(make_dicom, tmp_path: Path) -> Path:
    """Three 128 x 128 images in one series (p1, p2, p3: grey 60, 120, 180)."""
    folder = tmp_path / "study"
    for i in range(1, 4):
        make_dicom(
            f"p{i}.dcm",
            pixels=np.full((128, 128), 60 * i, np.uint8),
            folder=folder,
            InstanceNumber=i,
            StudyInstanceUID="1.2.3",
            SeriesInstanceUID="1.2.3.4",
        )
    return folder
