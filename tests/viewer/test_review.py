"""The review workflow in the window: the keyboard contract on real key presses, the canvas
layers, undo/redo and the session file written through."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6 import QtCore, QtTest

from detector.review import BoxKind, BoxStatus, ImageStatus
from tests.viewer.conftest import open_and_wait
from viewer.review.keys import key_for

Key = QtCore.Qt.Key
Mod = QtCore.Qt.KeyboardModifier


@pytest.fixture
def window(qtbot, make_main_window, study):
    win = make_main_window()
    open_and_wait(qtbot, win, [str(study)])
    return win


def _predict(window, boxes=((10, 10, 50, 60, 0.9), (70, 20, 110, 90, 0.6))) -> str:
    """Give the current image two model predictions (as a detector run would)."""
    key = window.current_key()
    window.review.review.set_predictions(key, "test.pt", [(b[:4], b[4]) for b in boxes])
    return key


def _press(qtbot, window, key, modifier=Mod.NoModifier) -> None:
    qtbot.keyClick(window, key, modifier)


def _kinds(window, key):
    return sorted(
        (b.kind.value, b.status.value) for b in window.review.review.boxes(key, active=True)
    )


def _drag(qtbot, widget, start: QtCore.QPoint, end: QtCore.QPoint) -> None:
    """A left-button drag with intermediate moves (what pyqtgraph needs to see a drag)."""
    left = QtCore.Qt.MouseButton.LeftButton
    QtTest.QTest.mousePress(widget, left, Mod.NoModifier, start)
    for t in (0.25, 0.5, 0.75, 1.0):
        p = QtCore.QPoint(
            round(start.x() + t * (end.x() - start.x())),
            round(start.y() + t * (end.y() - start.y())),
        )
        QtTest.QTest.mouseMove(widget, p)
        qtbot.wait(10)
    QtTest.QTest.mouseRelease(widget, left, Mod.NoModifier, end)


def _view_point(window, x: float, y: float) -> QtCore.QPoint:
    """Image pixel (x, y) -> canvas viewport pixel."""
    canvas = window.canvas
    scene = canvas.image_item.mapToScene(QtCore.QPointF(x, y))
    return canvas.mapFromScene(scene)


class TestKeyboardContract:
    def test_tab_enter_delete_and_undo_redo(self, qtbot, window):
        """Tab selects, Enter accepts, Delete rejects; Ctrl+Z / Ctrl+Shift+Z / Ctrl+Y."""
        key = _predict(window)
        layers = window.review.layers
        assert len(layers.drawn_xyxy("prediction")) == 2
        _press(qtbot, window, Key.Key_Tab)
        first = layers.selected_id
        assert first is not None
        _press(qtbot, window, Key.Key_Return)
        accepted = window.review.review.box(first)
        assert accepted.kind is BoxKind.REVIEWER and accepted.status is BoxStatus.ACCEPTED
        assert accepted.score is not None and accepted.origin == "test.pt"
        assert len(layers.drawn_xyxy("reviewer")) == 1
        # The other prediction: Tab to it, Delete rejects it.
        while window.review.review.box(layers.selected_id).kind is not BoxKind.PREDICTION:
            _press(qtbot, window, Key.Key_Tab)
        other = layers.selected_id
        _press(qtbot, window, Key.Key_Delete)
        assert window.review.review.box(other).status is BoxStatus.REJECTED
        assert layers.drawn_xyxy("prediction") == []
        assert _kinds(window, key) == [("reviewer", "accepted")]
        _press(qtbot, window, Key.Key_Z, Mod.ControlModifier)  # undo the reject
        assert window.review.review.box(other).status is BoxStatus.PROPOSED
        _press(qtbot, window, Key.Key_Z, Mod.ControlModifier)  # undo the accept
        assert _kinds(window, key) == [("prediction", "proposed")] * 2
        assert len(layers.drawn_xyxy("prediction")) == 2
        _press(qtbot, window, Key.Key_Z, Mod.ControlModifier | Mod.ShiftModifier)  # redo
        assert window.review.review.box(first).status is BoxStatus.ACCEPTED
        _press(qtbot, window, Key.Key_Y, Mod.ControlModifier)  # redo
        assert window.review.review.box(other).status is BoxStatus.REJECTED

    def test_shift_enter_accepts_visible_predictions(self, qtbot, window):
        """Shift+Enter accepts what is shown: predictions under the threshold stay proposed."""
        key = _predict(window)
        window.detection.set_threshold(0.7)
        assert len(window.review.layers.drawn_xyxy("prediction")) == 1
        _press(qtbot, window, Key.Key_Return, Mod.ShiftModifier)
        assert _kinds(window, key) == [("prediction", "proposed"), ("reviewer", "accepted")]
        # The findings table lists what is shown: the 0.6 proposal is under the threshold.
        table = window.findings.table
        assert [table.item(r, 6).text() for r in range(table.rowCount())] == ["accepted"]
        _press(qtbot, window, Key.Key_Z, Mod.ControlModifier)
        assert _kinds(window, key) == [("prediction", "proposed")] * 2

    def test_b_then_drag_draws_a_reviewer_box(self, qtbot, window):
        """B arms the box tool; one left-drag draws a green box; Backspace deletes it."""
        key = window.current_key()
        viewport = window.canvas.viewport()
        _press(qtbot, window, Key.Key_B)
        assert window.canvas.tool == "box"
        _drag(qtbot, viewport, _view_point(window, 20, 30), _view_point(window, 80, 100))
        (box,) = window.review.review.boxes(key, active=True)
        assert box.kind is BoxKind.REVIEWER and box.status is BoxStatus.ADDED
        x0, y0, x1, y1 = box.xyxy
        assert (x0, y0, x1, y1) == pytest.approx((20, 30, 80, 100), abs=2)
        assert window.canvas.tool == "pan"  # one box per B
        assert window.review.layers.selected_id == box.id
        _press(qtbot, window, Key.Key_Backspace)
        assert window.review.review.boxes(key, active=True) == []
        _press(qtbot, window, Key.Key_Z, Mod.ControlModifier)
        assert len(window.review.review.boxes(key, active=True)) == 1

    def test_drag_moves_a_box_in_one_undo_step(self, qtbot, window):
        """Dragging a prediction moves it (it becomes an edited reviewer box); undo restores."""
        key = _predict(window, ((20, 20, 60, 60, 0.9),))
        (pred,) = window.review.review.boxes(key)
        viewport = window.canvas.viewport()
        _drag(qtbot, viewport, _view_point(window, 40, 40), _view_point(window, 70, 50))
        moved = window.review.review.box(pred.id)
        assert moved.kind is BoxKind.REVIEWER and moved.status is BoxStatus.EDITED
        assert moved.xyxy == pytest.approx((50, 30, 90, 70), abs=2)
        assert window.review.layers.drawn_xyxy("reviewer") == [pytest.approx(moved.xyxy)]
        _press(qtbot, window, Key.Key_Z, Mod.ControlModifier)
        assert window.review.review.box(pred.id).xyxy == (20, 20, 60, 60)
        assert window.review.layers.drawn_xyxy("prediction") == [pytest.approx((20, 20, 60, 60))]

    def test_g_and_p_toggle_layers(self, qtbot, window):
        key = _predict(window)
        window.review.review.add_ground_truth(key, [(5, 5, 40, 40)], "labels.csv")
        layers = window.review.layers
        assert len(layers.drawn_xyxy("ground_truth")) == 1
        _press(qtbot, window, Key.Key_G)
        assert layers.drawn_xyxy("ground_truth") == []
        _press(qtbot, window, Key.Key_P)
        assert layers.drawn_xyxy("prediction") == []
        assert "#777777" in window.detection_panel.legend_label.text()
        _press(qtbot, window, Key.Key_G)
        _press(qtbot, window, Key.Key_P)
        assert len(layers.drawn_xyxy("ground_truth")) == 1
        assert len(layers.drawn_xyxy("prediction")) == 2

    def test_n_and_space(self, qtbot, window):
        """N: no opacity (predictions rejected); Space: reviewed, next unreviewed image."""
        images = window.state.images()
        first_key = _predict(window)
        _press(qtbot, window, Key.Key_N)
        review = window.review.review
        assert review.image(first_key).status is ImageStatus.NO_OPACITY
        assert review.boxes(first_key, active=True) == []
        with qtbot.waitSignal(window.image_shown, timeout=20_000):
            _press(qtbot, window, Key.Key_Space)
        assert window.state.current is images[1]
        with qtbot.waitSignal(window.image_shown, timeout=20_000):
            _press(qtbot, window, Key.Key_Space)
        assert review.image(key_for(images[1])).status is ImageStatus.REVIEWED
        assert window.state.current is images[2]
        assert window.review.review_progress() == (2, 3)
        assert window.browser.item_for(images[0]).text(1) == "\u2205"
        assert window.browser.item_for(images[1]).text(1) == "\u2713"


class TestSession:
    def test_edits_are_restored_when_the_folder_is_reopened(self, qtbot, make_main_window, study):
        """Every edit is in the folder's session file: a new window shows it again."""
        win = make_main_window()
        open_and_wait(qtbot, win, [str(study)])
        key = _predict(win)
        _press(qtbot, win, Key.Key_Tab)
        _press(qtbot, win, Key.Key_Return)
        session = win.review.session_path
        assert session and Path(session).is_file()
        expected = sorted((b.kind, b.status, b.xyxy) for b in win.review.review.boxes(key))
        win.close()

        again = make_main_window()
        open_and_wait(qtbot, again, [str(study)])
        assert again.review.session_path == session
        restored = sorted((b.kind, b.status, b.xyxy) for b in again.review.review.boxes(key))
        assert restored == expected
        assert len(again.review.layers.drawn_xyxy("reviewer")) == 1


class TestPanels:
    def test_findings_table_follows_selection_and_edits_move_the_box(self, qtbot, window):
        """Row per box; selecting on the canvas selects the row; editing x moves the box."""
        key = _predict(window, ((10, 10, 50, 60, 0.9),))
        findings = window.findings
        table = findings.table
        assert table.rowCount() == 1
        assert [table.item(0, c).text() for c in (0, 1, 6)] == ["prediction", "0.90", "proposed"]
        _press(qtbot, window, Key.Key_Tab)
        assert table.selectionModel().selectedRows()[0].row() == 0
        (box,) = window.review.review.boxes(key)
        table.item(0, 2).setData(QtCore.Qt.ItemDataRole.EditRole, 25.0)  # x
        moved = window.review.review.box(box.id)
        assert moved.xyxy == (25, 10, 65, 60)  # same width
        assert window.review.layers.drawn_xyxy("reviewer") == [pytest.approx((25, 10, 65, 60))]
        _press(qtbot, window, Key.Key_Z, Mod.ControlModifier)  # one undo step
        assert window.review.review.box(box.id).xyxy == (10, 10, 50, 60)
        assert table.item(0, 2).data(QtCore.Qt.ItemDataRole.EditRole) == 10

    def test_comparison_marks_and_rsna_score(self, qtbot, window):
        """At IoU 0.5: the overlapping pair is matched, the other truth missed, a stray FP."""
        key = _predict(window, ((10, 10, 50, 50, 0.9), (90, 90, 120, 120, 0.8)))
        window.review.review.add_ground_truth(
            key, [(12, 12, 50, 50), (60, 5, 100, 40)], "labels.csv"
        )
        window.findings.compare_check.setChecked(True)
        assert window.review_actions.act_compare.isChecked()
        captions = {v.kind + ":" + v.caption for v in window.review.layers.views()}
        assert captions == {
            "ground_truth:matched",
            "ground_truth:missed",
            "prediction:0.90 matched",
            "prediction:0.80 false positive",
        }
        missed = next(v for v in window.review.layers.views() if v.caption == "missed")
        assert missed.dashed
        # RSNA metric on this image: 1 TP, 1 FP, 1 FN at every IoU threshold 0.5..0.75
        # where the matched pair (IoU 0.9025) counts -> 1 / (1 + 1 + 1) = 1/3.
        assert window.review.rsna_score(key) == pytest.approx(1 / 3)
        assert "0.333" in window.findings.score_label.text()

    def test_worklist_sorts_by_disagreement_and_opens_images(self, qtbot, window):
        images = window.state.images()
        window.worklist_dock.show()
        window.worklist_dock.raise_()
        key2 = key_for(images[1])
        window.review.review.set_predictions(key2, "m.pt", [((0, 0, 30, 30), 0.95)])
        window.review.review.add_ground_truth(key2, [(60, 60, 90, 90)], "labels.csv")
        window.worklist.refresh()
        table = window.worklist.table
        header = table.horizontalHeader()  # a click on "disagree": high first
        x = header.sectionViewportPosition(4) + header.sectionSize(4) // 2
        qtbot.mouseClick(
            header.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=QtCore.QPoint(x, 5)
        )
        assert table.item(0, 0).text() == Path(images[1].name).stem
        assert [table.item(0, c).text() for c in (2, 3, 4)] == ["1", "0.95", "2"]
        with qtbot.waitSignal(window.image_shown, timeout=20_000):
            table.itemActivated.emit(table.item(0, 0))
        assert window.state.current is images[1]
        assert window.worklist.progress_label.text() == "0 of 3 reviewed"


class TestFiles:
    def test_import_with_bad_rows_then_export_labels(self, qtbot, window, study, tmp_path):
        """Import: matched by patientId, bad rows reported by line; export reads back."""
        labels = tmp_path / "labels.csv"
        labels.write_text(
            "patientId,x,y,width,height,Target\n"
            "p1,10,20,30,40,1\n"
            "p2,,,,,0\n"
            "p1,abc,20,30,40,1\n"
            "elsewhere,1,2,3,4,1\n"
        )
        text = window.review.import_labels(str(labels))
        assert "1 box(es) added on 2 open image(s)" in text  # p2 has a Target=0 row
        assert "1 patient(s) not open" in text and "1 bad row(s) skipped" in text
        assert any(":4:" in p.reason for p in window.problems.problems)
        key1 = key_for(next(i for i in window.state.images() if i.name == "p1.dcm"))
        (gt,) = window.review.review.boxes(key1, kind=BoxKind.GROUND_TRUTH)
        assert gt.xyxy == (10, 20, 40, 60)
        window.review.import_labels(str(labels))  # twice: nothing added
        assert len(window.review.review.boxes(key1)) == 1
        window.state.set_current(next(i for i in window.state.images() if i.name == "p1.dcm"))
        qtbot.waitUntil(lambda: window.current_key() == key1, timeout=10_000)
        _press(qtbot, window, Key.Key_Space)
        out = tmp_path / "out" / "reviewed.csv"
        out.parent.mkdir()
        assert "Exported 1 row(s)" in window.review.export(str(out), "labels")
        from detector.rsna.labels import read_labels

        back = read_labels(out)
        assert back.rows == 1 and back.skipped == 0
        assert out.read_text().splitlines()[1] == "p1,10,20,30,40,1"

    def test_export_to_unwritable_place_is_one_line(self, qtbot, window, tmp_path):
        text = window.review.export(str(tmp_path / "missing" / "x.csv"), "labels")
        assert "x.csv" in text and "\n" not in text
        assert not (tmp_path / "missing").exists()


class TestStartup:
    def test_demo_opens_with_ground_truth_and_the_demo_model(self, qtbot, make_main_window):
        """`make run` (--demo): the demo study, its labels imported, the demo model loaded."""
        from detector.rsna.labels import read_labels
        from viewer.app import demo_inputs, start_review

        paths, recent, labels, classes, model = demo_inputs([], None, None, None)
        assert labels is not None and model is not None and Path(model).name == "demo.pt"
        window = make_main_window()
        with qtbot.waitSignal(window.detection.model_ready, timeout=60_000):
            open_and_wait(qtbot, window, paths)
            start_review(window, labels=labels, classes=classes, model=model)
        assert window.detection_panel.demo_label.isVisible()
        truth = read_labels(labels).boxes
        review = window.review.review
        n_truth = sum(len(v) for v in truth.values())
        assert len(review.boxes(kind=BoxKind.GROUND_TRUTH)) == n_truth > 0
        from detector.review import default_session_path

        assert window.review.session_path == str(default_session_path(recent[0]))


def test_help_shortcuts_lists_the_keyboard_contract(qtbot, window):
    """Help → Shortcuts shows every review key with its action."""
    from viewer.panels.dialogs import shortcut_rows

    rows = dict(shortcut_rows(window.actions_made.actions))
    assert rows["Draw a box (then left-drag)"] == "B"
    assert rows["Accept selected prediction"].startswith("Return")
    assert rows["Reject prediction / delete box"] == "Del, Backspace"
    assert rows["Mark reviewed and go to next unreviewed"] == "Space"
    assert rows["Redo"] == "Ctrl+Shift+Z, Ctrl+Y"
    assert rows["Show predictions"] == "P" and rows["Show ground truth"] == "G"
    assert rows["Delete rulers"] == "Shift+Del"
    assert [name for name, keys in rows.items() if keys == "P"] == ["Show predictions"]


def test_close_all_then_another_folder_gets_its_own_session(
    qtbot, make_main_window, study, make_dicom, tmp_path
):
    win = make_main_window()
    open_and_wait(qtbot, win, [str(study)])
    first = win.review.session_path
    _predict(win)
    win.close_all()
    assert win.review.session_path == "" and win.review.review.images == {}
    other = tmp_path / "other"
    make_dicom("o1.dcm", folder=other)
    open_and_wait(qtbot, win, [str(other)])
    assert win.review.session_path not in ("", first)
    assert [im.patient_id for im in win.review.review.images.values()] == ["o1"]
