"""File → PACS... and Review → Send findings to PACS... against a real Orthanc."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from detector.pacs.servers import save_servers
from tests.detector.pacs.conftest import OUR_AET, Orthanc, Study, make_study

CTRL_SHIFT = QtCore.Qt.KeyboardModifier.ControlModifier | QtCore.Qt.KeyboardModifier.ShiftModifier
LEFT = QtCore.Qt.MouseButton.LeftButton


@pytest.fixture
def studies(orthanc: Orthanc, tmp_path: Path) -> list[Study]:
    """Orthanc holds exactly two CR studies of two images each."""
    orthanc.clear()
    made = [
        make_study(tmp_path / "a", patient_id="PVW-A", accession="ACC1", date="20240110"),
        make_study(tmp_path / "b", patient_id="PVW-B", accession="ACC2", date="20240220"),
    ]
    for study in made:
        for path in study.files:
            orthanc.upload(path)
    return made


def open_pacs(qtbot, window):  # type: ignore[no-untyped-def]
    """Ctrl+Shift+O in the window; the PACS dialog comes up."""
    window.activateWindow()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is window)
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, QtCore.Qt.Key.Key_O, CTRL_SHIFT)
    dialog = window.pacs.dialog
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible)
    return dialog


def type_server(qtbot, picker, text: str, timeout: str | None = None) -> None:  # type: ignore[no-untyped-def]
    line = picker.combo.lineEdit()
    line.selectAll()
    qtbot.keyClicks(line, text)
    if timeout is not None:
        spin = picker.timeout
        spin.lineEdit().selectAll()
        qtbot.keyClicks(spin, timeout)
        spin.interpretText()


def server_text(orthanc: Orthanc, protocol: str) -> str:
    """What the user types for ``protocol``: the DICOMweb URL, or the name of a DIMSE server
    saved in the servers file with our calling AE title (the one Orthanc lists)."""
    if protocol == "dicomweb":
        return orthanc.web_url
    save_servers([{"name": "Orthanc DIMSE", "url": orthanc.dimse_url, "calling_aet": OUR_AET}])
    return "Orthanc DIMSE"


def mark_reviewed(qtbot, window, count: int) -> None:  # type: ignore[no-untyped-def]
    """Ctrl+R (reviewed) then PageDown (next image), ``count`` times, as a reader does."""
    for _ in range(count):
        window.canvas.setFocus()
        qtbot.keyClick(
            window.canvas, QtCore.Qt.Key.Key_R, QtCore.Qt.KeyboardModifier.ControlModifier
        )
        qtbot.keyClick(window.canvas, QtCore.Qt.Key.Key_PageDown)


def search(qtbot, dialog) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(dialog.searched, timeout=20_000):
        qtbot.mouseClick(dialog.search_button, LEFT)


def shown_patients(dialog) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount()))


def test_ctrl_shift_o_opens_the_dialog_and_no_shortcut_is_shared(make_main_window, qtbot) -> None:
    """Ctrl+Shift+O is File → PACS... only (Open folder moved to Ctrl+Alt+O)."""
    window = make_main_window()
    dialog = open_pacs(qtbot, window)
    assert dialog.windowTitle() == "PACS"
    keys = [k.toString() for act in window.actions_made.actions for k in act.shortcuts()]
    assert keys.count("Ctrl+Shift+O") == 1
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)
    assert window.act_open_folder.shortcut().toString() == "Ctrl+Alt+O"


def test_search_lists_the_studies_and_filters(
    make_main_window, qtbot, orthanc: Orthanc, studies: list[Study]
) -> None:
    window = make_main_window()
    dialog = open_pacs(qtbot, window)
    type_server(qtbot, dialog.picker, orthanc.web_url)
    search(qtbot, dialog)
    assert shown_patients(dialog) == ["PVW-A", "PVW-B"]
    rows = [
        [dialog.table.item(r, c).text() for c in range(dialog.table.columnCount())]
        for r in range(dialog.table.rowCount())
    ]
    assert rows == [  # newest first
        ["PVW-B", "SYNTHETIC PVW-B", "2024-02-20", "CR", "ACC2", "2"],
        ["PVW-A", "SYNTHETIC PVW-A", "2024-01-10", "CR", "ACC1", "2"],
    ]
    qtbot.keyClicks(dialog.form.dates, "20240201-20240229")
    search(qtbot, dialog)
    assert shown_patients(dialog) == ["PVW-B"]
    assert dialog.status.text().startswith("1 study on ")


@pytest.mark.parametrize("protocol", ["dicomweb", "dimse"])
def test_retrieve_fills_the_browser(
    make_main_window, qtbot, orthanc: Orthanc, studies: list[Study], tmp_path: Path, protocol: str
) -> None:
    """Both studies land in the cache, one folder per study, and every image opens."""
    text = server_text(orthanc, protocol)
    window = make_main_window()
    dialog = open_pacs(qtbot, window)
    type_server(qtbot, dialog.picker, text)
    search(qtbot, dialog)
    dialog.table.setFocus()
    qtbot.keyClick(dialog.table, QtCore.Qt.Key.Key_A, QtCore.Qt.KeyboardModifier.ControlModifier)
    with qtbot.waitSignal(dialog.job.finished, timeout=30_000) as blocker:
        qtbot.mouseClick(dialog.retrieve_button, LEFT)
    assert blocker.args == ["Retrieved 2 studies: 4 images"]
    for study in studies:
        assert len(list((tmp_path / "cache" / "pacs" / study.study_uid).glob("*.dcm"))) == 2
    qtbot.waitUntil(lambda: len(window.state.images()) == 4, timeout=15_000)
    uids = {str(i.header.get("StudyInstanceUID")) for i in window.state.images()}
    assert uids == {s.study_uid for s in studies}


@pytest.mark.parametrize("protocol", ["dicomweb", "dimse"])
def test_cancel_stops_the_retrieve(
    make_main_window, qtbot, orthanc: Orthanc, tmp_path: Path, protocol: str
) -> None:
    orthanc.clear()
    big = make_study(
        tmp_path / "big", patient_id="PVW-BIG", accession="B", date="20240301", images=30
    )
    for path in big.files:
        orthanc.upload(path)
    text = server_text(orthanc, protocol)
    window = make_main_window()
    dialog = open_pacs(qtbot, window)
    type_server(qtbot, dialog.picker, text)
    search(qtbot, dialog)
    with qtbot.waitSignal(dialog.job.finished, timeout=30_000) as blocker:
        qtbot.mouseClick(dialog.retrieve_button, LEFT)
        qtbot.mouseClick(dialog.cancel_button, LEFT)
    assert blocker.args[0].endswith("(cancelled)")
    kept = list((tmp_path / "cache" / "pacs" / big.study_uid).glob("*.dcm"))
    assert len(kept) < 30
    assert not list((tmp_path / "cache" / "pacs" / big.study_uid).glob("*.tmp"))
    assert dialog.retrieve_button.isEnabled() and not dialog.cancel_button.isEnabled()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


def test_a_silent_server_is_one_line_and_the_window_keeps_working(
    make_main_window, qtbot, silent_server: int
) -> None:
    window = make_main_window()
    dialog = open_pacs(qtbot, window)
    type_server(qtbot, dialog.picker, f"http://127.0.0.1:{silent_server}/dicom-web", "1")
    assert dialog.picker.timeout.value() == 1.0
    ticks = []
    timer = QtCore.QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(50)
    with qtbot.waitSignal(dialog.search_failed, timeout=20_000) as blocker:
        qtbot.mouseClick(dialog.search_button, LEFT)
    timer.stop()
    line = blocker.args[0]
    assert "\n" not in line and f"127.0.0.1:{silent_server}" in line
    assert "within 1 s" in line
    # The event loop ran while the search waited (a count, not a timing threshold: a loaded
    # machine ticks less often, a frozen window not at all).
    assert len(ticks) >= 2
    assert dialog.status.text() == line
    # The button comes back when the worker has finished (just after it reported the failure).
    qtbot.waitUntil(dialog.search_button.isEnabled, timeout=5_000)


def test_send_findings_puts_them_into_orthanc(
    make_main_window, qtbot, orthanc: Orthanc, tmp_path: Path
) -> None:
    """Two images marked reviewed (Ctrl+R) → two DICOM SRs (TID 1500) in Orthanc, each
    referencing its image; one summary line."""
    from tests.viewer.conftest import open_and_wait

    orthanc.clear()
    local = make_study(tmp_path / "local", patient_id="PVW-S", accession="S", date="20240401")
    window = make_main_window()
    open_and_wait(qtbot, window, [str(tmp_path / "local")])
    mark_reviewed(qtbot, window, 2)
    assert window.pacs.sender.reviewed_count() == 2
    window.pacs.act_send.trigger()
    send_dialog = window.pacs.sender.dialog
    assert send_dialog is not None
    qtbot.waitUntil(send_dialog.isVisible)
    type_server(qtbot, send_dialog.picker, orthanc.web_url)
    with qtbot.waitSignal(window.pacs.sender.done, timeout=30_000) as blocker:
        qtbot.mouseClick(send_dialog.send_button, LEFT)
    assert blocker.args[0] == f"Findings to {orthanc.web_url}: 2 sent, 0 failed"
    assert orthanc.instance_count() == 2
    assert len(local.files) == 2
    import json

    sent = [
        json.loads(orthanc.request("GET", f"/instances/{i}/simplified-tags"))
        for i in json.loads(orthanc.request("GET", "/instances"))
    ]
    # Comprehensive 3D SR, one per reviewed image, in the image's study.
    assert {t["SOPClassUID"] for t in sent} == {"1.2.840.10008.5.1.4.1.1.88.34"}
    assert {t["Modality"] for t in sent} == {"SR"}


def test_send_without_reviewed_images_says_so(make_main_window, qtbot) -> None:
    window = make_main_window()
    with qtbot.waitSignal(window.pacs.sender.done) as blocker:
        window.pacs.act_send.trigger()
    assert blocker.args == ["No image is marked reviewed: nothing to send"]
    assert isinstance(window.pacs.act_send, QtGui.QAction)


def test_cancel_stops_sending_findings(
    make_main_window, qtbot, orthanc: Orthanc, tmp_path: Path
) -> None:
    """Review → Cancel sending findings, enabled only while a send runs, stops a C-STORE of 30
    SRs between two files: the line says how many were not sent, and Orthanc holds exactly the
    ones that were."""
    import re

    from tests.viewer.conftest import open_and_wait

    orthanc.clear()
    make_study(tmp_path / "local", patient_id="PVW-C", accession="C", date="20240402", images=30)
    text = server_text(orthanc, "dimse")
    window = make_main_window()
    open_and_wait(qtbot, window, [str(tmp_path / "local")])
    mark_reviewed(qtbot, window, 30)
    assert window.pacs.sender.reviewed_count() == 30
    cancel = window.pacs.act_cancel_send
    assert not cancel.isEnabled()
    window.pacs.act_send.trigger()
    send_dialog = window.pacs.sender.dialog
    assert send_dialog is not None
    qtbot.waitUntil(send_dialog.isVisible)
    type_server(qtbot, send_dialog.picker, text)
    with qtbot.waitSignal(window.pacs.sender.done, timeout=60_000) as blocker:
        qtbot.mouseClick(send_dialog.send_button, LEFT)
        assert cancel.isEnabled()
        cancel.trigger()
    line = blocker.args[0]
    found = re.fullmatch(
        r"Findings to Orthanc DIMSE \(dimse://\S+\): (\d+) sent, 0 failed "
        r"\(cancelled: (\d+) not sent\)",
        line,
    )
    assert found, line
    sent, left = int(found.group(1)), int(found.group(2))
    assert sent + left == 30 and left > 0
    assert orthanc.instance_count() == sent
    assert not cancel.isEnabled()
