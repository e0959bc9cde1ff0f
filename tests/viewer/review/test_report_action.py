"""Review → Report... writes the reading report of the open session in a worker and hands the
page to the browser; a folder that cannot be written is one status-bar line."""

from __future__ import annotations

import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from tests.viewer.conftest import open_and_wait

Key = QtCore.Qt.Key


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The URLs the window asked the desktop to open (no browser starts in a test)."""
    urls: list[str] = []
    monkeypatch.setattr(
        QtGui.QDesktopServices, "openUrl", lambda url: urls.append(url.toLocalFile()) or True
    )
    return urls


def _menu_action(window, menu_title: str, text: str) -> QtGui.QAction:
    for menu_action in window.menuBar().actions():
        if menu_action.text().replace("&", "") == menu_title:
            for action in menu_action.menu().actions():
                if action.text().replace("&", "") == text:
                    return action
    raise AssertionError(f"no {menu_title} → {text}")


def test_report_from_the_review_menu(qtbot, make_main_window, study, tmp_path, monkeypatch, opened):
    window = make_main_window()
    open_and_wait(qtbot, window, [str(study)])
    # The scan's own summary comes last of the opening; the report's line must not race it.
    qtbot.waitUntil(lambda: "images open" in window.statusBar().currentMessage(), timeout=30_000)
    qtbot.keyClick(window.canvas, Key.Key_Space)  # one image reviewed
    out = tmp_path / "report"
    monkeypatch.setattr(QtWidgets.QFileDialog, "getExistingDirectory", lambda *a, **k: str(out))
    action = _menu_action(window, "Review", "Report...")
    with qtbot.waitSignal(window.report_action.written, timeout=60_000) as signal:
        action.trigger()
    page = out / "index.html"
    assert signal.args == [str(page)]
    assert opened == [str(page)]
    text = page.read_text(encoding="utf-8")
    assert "1 of 3 images finished" in text
    assert "Reading report written" in window.statusBar().currentMessage()


def test_a_folder_that_cannot_be_written_is_one_line(
    qtbot, make_main_window, study, tmp_path, monkeypatch, opened
):
    window = make_main_window()
    open_and_wait(qtbot, window, [str(study)])
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    with qtbot.waitSignal(window.report_action.failed, timeout=60_000) as signal:
        window.report_action.write(str(blocker))
    (line,) = signal.args
    assert line.startswith("No report: ") and "a file" in line
    assert "\n" not in line and opened == []


def test_no_session_says_so(qtbot, make_main_window):
    window = make_main_window()
    window.report_action.act_report.trigger()
    assert window.statusBar().currentMessage() == "No review session: open a folder first"
