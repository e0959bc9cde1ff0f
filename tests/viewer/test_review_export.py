"""Exports from the window hold exactly what the reader decided (issue 16, defects 3, 4, 12a):
real key presses decide, File -> Export writes, the CSV text is checked as written by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from detector.review import BoxKind
from tests.viewer.conftest import open_and_wait

Key = QtCore.Qt.Key
Mod = QtCore.Qt.KeyboardModifier
STATUS = 6  # the Findings table's status column


@pytest.fixture
def window(qtbot, make_main_window, make_dicom, tmp_path: Path):
    """One 128 x 128 image, p1, with ground truth G (10,10)-(50,50) and two predictions:
    A 0.90 (12,12)-(50,50), IoU with G 0.9025, and B 0.60 (70,20)-(110,90), matching nothing."""
    folder = tmp_path / "study"
    make_dicom("p1.dcm", pixels=np.full((128, 128), 60, np.uint8), folder=folder)
    win = make_main_window()
    open_and_wait(qtbot, win, [str(folder)])
    key = win.current_key()
    review = win.review.review
    review.add_ground_truth(key, [(10, 10, 50, 50)], "labels.csv")
    review.set_predictions(key, "m.pt", [((12, 12, 50, 50), 0.9), ((70, 20, 110, 90), 0.6)])
    return win


def _press(qtbot, window, key, modifier=Mod.NoModifier) -> None:
    qtbot.keyClick(window, key, modifier)


def _select(qtbot, window, score: float) -> None:
    """Tab until the prediction with this score is selected."""
    review = window.review.review
    for _ in range(6):
        _press(qtbot, window, Key.Key_Tab)
        box = review.box(window.review.layers.selected_id)
        if box.kind is BoxKind.PREDICTION and box.score == score:
            return
    raise AssertionError(f"Tab never reached the {score} prediction")


def _statuses(window) -> dict[str, str]:
    """Findings table: "kind score" -> status text."""
    table = window.findings.table
    return {
        f"{table.item(r, 0).text()} {table.item(r, 1).text()}".strip(): table.item(r, STATUS).text()
        for r in range(table.rowCount())
    }


def _export(window, monkeypatch, fmt: str, out: Path) -> str:
    """File -> Export -> fmt, the save dialog answered with ``out``; returns the CSV text."""
    monkeypatch.setattr(
        QtWidgets.QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), "CSV (*.csv)")
    )
    window.review_files.export_actions[fmt].trigger()
    return out.read_text()


def test_file_export_menu_offers_the_four_formats(window):
    texts = [a.text() for a in window.review_files.export_actions.values()]
    assert texts == [
        "Export labels...",
        "Export audit...",
        "Export submission...",
        "Export reviewed-submission...",
    ]


def test_ground_truth_reads_ground_truth_not_proposed(window):
    assert _statuses(window) == {
        "ground truth": "ground truth",
        "prediction 0.90": "proposed",
        "prediction 0.60": "proposed",
    }


def test_accepting_a_matched_prediction_confirms_the_ground_truth(
    qtbot, window, monkeypatch, tmp_path
):
    """Enter on A: Findings pairs A and G; Space marks reviewed; labels hold G once."""
    _select(qtbot, window, 0.9)
    _press(qtbot, window, Key.Key_Return)
    assert _statuses(window) == {
        "ground truth": "confirmed",
        "reviewer 0.90": "confirms GT",
        "prediction 0.60": "proposed",
    }
    _press(qtbot, window, Key.Key_Space)  # reviewed; B stays undecided
    text = _export(window, monkeypatch, "labels", tmp_path / "labels.csv")
    assert text == "patientId,x,y,width,height,Target\np1,10,10,40,40,1\n"
    assert "1 ground-truth box(es) confirmed" in window.statusBar().currentMessage()
    text = _export(window, monkeypatch, "reviewed-submission", tmp_path / "rsub.csv")
    assert text == "patientId,PredictionString\np1,0.9000 10 10 40 40\n"


def test_the_compare_iou_in_the_findings_dock_decides(qtbot, window, monkeypatch, tmp_path):
    """At IoU 0.95 typed into the dock, A (0.9025) confirms nothing: two rows."""
    spin = window.findings.iou_spin
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), "0.95")
    qtbot.keyClick(spin.lineEdit(), Key.Key_Return)
    assert spin.value() == pytest.approx(0.95)
    window.canvas.setFocus()
    _select(qtbot, window, 0.9)
    _press(qtbot, window, Key.Key_Return)
    assert _statuses(window)["ground truth"] == "ground truth"
    assert _statuses(window)["reviewer 0.90"] == "accepted"
    _press(qtbot, window, Key.Key_Space)
    text = _export(window, monkeypatch, "labels", tmp_path / "labels.csv")
    assert text == "patientId,x,y,width,height,Target\np1,10,10,40,40,1\np1,12,12,38,38,1\n"


def test_submission_is_what_the_model_said(qtbot, window, monkeypatch, tmp_path):
    """Delete rejects B, Enter accepts A; the submission still holds both, as proposed."""
    _select(qtbot, window, 0.6)
    _press(qtbot, window, Key.Key_Delete)
    _select(qtbot, window, 0.9)
    _press(qtbot, window, Key.Key_Return)
    _press(qtbot, window, Key.Key_Space)
    text = _export(window, monkeypatch, "submission", tmp_path / "sub.csv")
    assert text == "patientId,PredictionString\np1,0.9000 12 12 38 38 0.6000 70 20 40 70\n"
    audit = _export(window, monkeypatch, "audit", tmp_path / "audit.csv").splitlines()
    assert [row.split(",")[6:9] for row in audit[1:]] == [
        ["ground_truth", "", "confirmed"],
        ["model", "0.9000", "accepted"],
        ["model", "0.6000", "rejected"],
    ]
