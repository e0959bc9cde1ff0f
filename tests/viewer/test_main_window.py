"""MainWindow: opening, problems, navigation, window/level, inversion, settings, leaks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from tests.viewer.conftest import break_pixels, open_and_wait


@pytest.fixture
def mixed_folder(make_dicom, tmp_path: Path) -> Path:
    """Three good images (one series) plus an empty file, a text file and a truncated DICOM."""
    folder = tmp_path / "study"
    for i in range(1, 4):
        make_dicom(
            f"sub/im{i}.dcm",
            folder=folder,
            InstanceNumber=i,
            StudyInstanceUID="1.2.3",
            SeriesInstanceUID="1.2.3.4",
            PixelSpacing=[0.5, 0.5],
        )
    (folder / "empty.dcm").write_bytes(b"")
    (folder / "notes.dat").write_text("not an image")
    data = (folder / "sub" / "im1.dcm").read_bytes()
    (folder / "cut.dcm").write_bytes(data[:200])
    return folder


def _send_drop(window, paths: list[Path]) -> None:
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(p)) for p in paths])
    center = QtCore.QPoint(window.width() // 2, window.height() // 2)
    action = QtCore.Qt.DropAction.CopyAction
    buttons = QtCore.Qt.MouseButton.LeftButton
    mods = QtCore.Qt.KeyboardModifier.NoModifier
    enter = QtGui.QDragEnterEvent(center, action, mime, buttons, mods)
    QtWidgets.QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QtGui.QDropEvent(QtCore.QPointF(center), action, mime, buttons, mods)
    QtWidgets.QApplication.sendEvent(window, drop)


class TestOpen:
    def test_drop_folder_with_broken_files(self, qtbot, make_main_window, mixed_folder):
        """Dropped folder: good images open and show; broken files are listed with reasons."""
        window = make_main_window()
        with qtbot.waitSignals([window.scan_finished, window.image_shown], timeout=15_000):
            _send_drop(window, [mixed_folder])
        assert [i.name for i in window.state.images()] == ["im1.dcm", "im2.dcm", "im3.dcm"]
        reasons = {Path(p.path).name: p.reason for p in window.problems.problems}
        assert reasons["empty.dcm"] == "empty file (0 bytes)"
        assert "not a DICOM file" in reasons["notes.dat"]
        assert "truncated" in reasons["cut.dcm"] or "damaged" in reasons["cut.dcm"]
        assert window.problems.tree.topLevelItemCount() == 3
        assert window.problems_dock.isVisible()
        assert window.canvas.has_image and window.state.current.name == "im1.dcm"

    def test_open_files_and_thumbnails(self, qtbot, make_main_window, mixed_folder):
        """Opened files get a thumbnail in the study tree."""
        window = make_main_window()
        files = sorted((mixed_folder / "sub").glob("*.dcm"))
        with qtbot.waitSignal(window.thumbnails_finished, timeout=15_000):
            open_and_wait(qtbot, window, [str(f) for f in files])
        item = window.browser.item_for(window.state.images()[1])
        assert not item.icon(0).isNull()
        assert window.prefs.recent[0] == str(files[0])

    def test_only_broken_files(self, qtbot, make_main_window, tmp_path):
        """Nothing readable: no image, the problem is listed, the window stays usable."""
        bad = tmp_path / "bad.dcm"
        bad.write_bytes(b"\x00" * 10)
        window = make_main_window()
        open_and_wait(qtbot, window, [str(bad)], images=False)
        assert window.state.images() == [] and not window.canvas.has_image
        assert len(window.problems.problems) == 1

    def test_cancel_keeps_found_images(self, qtbot, make_main_window, make_dicom, tmp_path):
        """Cancel as soon as the first images arrive: the scan stops early, they stay open."""
        folder = tmp_path / "many"
        for i in range(300):
            make_dicom(f"im{i:03d}.dcm", np.zeros((8, 8), np.uint8), folder=folder)
        window = make_main_window()
        window.state.images_added.connect(lambda _new: window.cancel_scan())
        with qtbot.waitSignal(window.scan_finished, timeout=15_000):
            window.open_paths([str(folder)])
        found = len(window.state.images())
        assert 0 < found < 300
        assert not window.is_scanning and not window.progress.isVisible()
        qtbot.waitUntil(lambda: window.canvas.has_image, timeout=10_000)
        assert len(window.state.images()) == found and window.state.current is not None


@pytest.fixture
def first_undecodable(make_dicom, tmp_path: Path) -> Path:
    """A series whose first image (Instance 1) has a readable header but undecodable pixels."""
    folder = tmp_path / "first_bad"
    for i in (1, 2, 3):
        path = make_dicom(
            f"im{i}.dcm",
            folder=folder,
            jpeg=True,
            InstanceNumber=i,
            StudyInstanceUID="7.7",
            SeriesInstanceUID="7.7.1",
        )
        if i == 1:
            break_pixels(path)
    return folder


class TestFirstDisplayable:
    def test_opens_on_first_image_that_decodes(self, qtbot, make_main_window, first_undecodable):
        """An undecodable first image is skipped: the viewer shows the next one and lists it."""
        window = make_main_window()
        open_and_wait(qtbot, window, [str(first_undecodable)])
        qtbot.waitUntil(lambda: window.canvas.has_image, timeout=10_000)
        assert [i.name for i in window.state.images()] == ["im1.dcm", "im2.dcm", "im3.dcm"]
        assert window.state.current.name == "im2.dcm"
        assert [Path(p.path).name for p in window.problems.problems] == ["im1.dcm"]
        assert "JPEG" in window.problems.problems[0].reason

    def test_user_choice_is_not_overridden(self, qtbot, make_main_window, first_undecodable):
        """Once an image was shown, going back to the broken one stays there and says why."""
        window = make_main_window()
        open_and_wait(qtbot, window, [str(first_undecodable)])
        qtbot.waitUntil(lambda: window.canvas.has_image, timeout=10_000)
        window.navigate(-(2**31))
        assert window.state.current.name == "im1.dcm"
        qtbot.waitUntil(lambda: not window.canvas.has_image, timeout=10_000)
        assert window.state.current.name == "im1.dcm"

    def test_status_bar_counts_what_problems_panel_lists(
        self, qtbot, make_main_window, first_undecodable
    ):
        """Scan failures and decode failures found later: the status bar and the panel agree."""
        (first_undecodable / "empty.dcm").write_bytes(b"")
        break_pixels(first_undecodable / "im3.dcm")
        window = make_main_window()
        with qtbot.waitSignal(window.thumbnails_finished, timeout=15_000):
            open_and_wait(qtbot, window, [str(first_undecodable)])
        qtbot.waitUntil(lambda: not window.is_scanning and not window.thumbnails_pending)
        names = sorted(Path(p.path).name for p in window.problems.problems)
        assert names == ["empty.dcm", "im1.dcm", "im3.dcm"]
        assert window.statusBar().currentMessage() == "3 images open; 3 problems (see Problems)"
        assert window.problems_button.text().endswith("3 problems")


class TestNavigation:
    def test_keys_move_through_images(self, qtbot, make_main_window, mixed_folder):
        """Down/PageDown/End/Home/Up move between images and clamp at the ends."""
        window = make_main_window()
        open_and_wait(qtbot, window, [str(mixed_folder)])
        window.canvas.setFocus()

        def names() -> str:
            return window.state.current.name

        with qtbot.waitSignal(window.image_shown, timeout=10_000):
            qtbot.keyClick(window.canvas, QtCore.Qt.Key.Key_Down)
        assert names() == "im2.dcm"
        qtbot.keyClick(window.canvas, QtCore.Qt.Key.Key_PageDown)
        assert names() == "im3.dcm"
        qtbot.keyClick(window.canvas, QtCore.Qt.Key.Key_PageDown)
        assert names() == "im3.dcm"
        qtbot.keyClick(window.canvas, QtCore.Qt.Key.Key_Home)
        assert names() == "im1.dcm"
        qtbot.keyClick(window.canvas, QtCore.Qt.Key.Key_End)
        assert names() == "im3.dcm"
        qtbot.keyClick(window.canvas, QtCore.Qt.Key.Key_Up)
        assert names() == "im2.dcm"
        assert window.position_label.text() == "Image 2 / 3"

    def test_tree_follows_and_drives_selection(self, qtbot, make_main_window, mixed_folder):
        """Picking an image in the tree shows it; Down in the tree skips group rows."""
        window = make_main_window()
        open_and_wait(qtbot, window, [str(mixed_folder)])
        third = window.state.images()[2]
        window.browser.setCurrentItem(window.browser.item_for(third))
        assert window.state.current is third
        window.browser.setFocus()
        qtbot.keyClick(window.browser, QtCore.Qt.Key.Key_Up)
        assert window.state.current.name == "im2.dcm"
        assert window.browser.currentItem() is window.browser.item_for(window.state.current)

    def test_reviewed_marker(self, qtbot, make_main_window, mixed_folder):
        """Ctrl+R marks the current image reviewed in the tree."""
        window = make_main_window()
        open_and_wait(qtbot, window, [str(mixed_folder)])
        window.act_reviewed.trigger()
        item = window.browser.item_for(window.state.current)
        assert item.text(1) == "\u2713"
        window.act_reviewed.trigger()
        assert item.text(1) == ""


def _drag(widget: QtWidgets.QWidget, button, start: QtCore.QPoint, end: QtCore.QPoint) -> None:
    """A real mouse drag through Qt events (QTest moves do not carry buttons on QGraphicsView)."""
    mods = QtCore.Qt.KeyboardModifier.NoModifier

    def send(kind, pos, buttons):
        ev = QtGui.QMouseEvent(
            kind,
            QtCore.QPointF(pos),
            QtCore.QPointF(widget.mapToGlobal(pos)),
            button,
            buttons,
            mods,
        )
        QtWidgets.QApplication.sendEvent(widget, ev)

    send(QtCore.QEvent.Type.MouseButtonPress, start, button)
    steps = 5
    for i in range(1, steps + 1):
        p = start + (end - start) * (i / steps)
        send(QtCore.QEvent.Type.MouseMove, p, button)
    send(QtCore.QEvent.Type.MouseButtonRelease, end, QtCore.Qt.MouseButton.NoButton)


class TestWindowLevel:
    def test_right_drag_changes_displayed_pixels(self, qtbot, make_main_window, make_dicom):
        """Right-drag to the right widens the window and changes what is displayed."""
        pixels = np.tile(np.arange(0, 256, 2, dtype=np.uint8), (128, 1))
        path = make_dicom(pixels=pixels, WindowCenter=128, WindowWidth=100)
        window = make_main_window()
        open_and_wait(qtbot, window, [str(path)])
        before = window.canvas.image_item.image.copy()
        viewport = window.canvas.viewport()
        center = viewport.rect().center()
        _drag(viewport, QtCore.Qt.MouseButton.RightButton, center, center + QtCore.QPoint(120, 40))
        window_now = window.state.effective_window
        assert window.state.preset == "Custom"
        assert window_now.width > 100 and window_now.center > 128
        after = window.canvas.image_item.image
        assert not np.array_equal(before, after)
        assert tuple(window.canvas.image_item.levels) == (0, 255)
        assert window.window_control.readout.text().startswith("W ")
        assert "W " in window.canvas.overlay_text("bottom_left")

    def test_preset_keys_and_reset(self, qtbot, make_main_window, make_dicom):
        """Number keys apply presets; R resets to the header window."""
        path = make_dicom(WindowCenter=128, WindowWidth=100)
        window = make_main_window()
        open_and_wait(qtbot, window, [str(path)])
        qtbot.keyClick(window.canvas, QtCore.Qt.Key.Key_5)
        assert window.state.preset == "Full range"
        qtbot.keyClick(window.canvas, QtCore.Qt.Key.Key_R)
        assert window.state.effective_window.width == 100

    def test_monochrome1_shown_inverted(self, qtbot, make_main_window, make_dicom):
        """A MONOCHROME1 image is displayed as the inverse of the same MONOCHROME2 pixels."""
        pixels = np.tile(np.arange(0, 256, 2, dtype=np.uint8), (64, 1))
        m2 = make_dicom(
            "m2.dcm", pixels, InstanceNumber=1, StudyInstanceUID="9", SeriesInstanceUID="9.1"
        )
        m1 = make_dicom(
            "m1.dcm",
            pixels,
            photometric="MONOCHROME1",
            InstanceNumber=2,
            StudyInstanceUID="9",
            SeriesInstanceUID="9.1",
        )
        window = make_main_window()
        open_and_wait(qtbot, window, [str(m2), str(m1)])
        shown_m2 = window.canvas.image_item.image.astype(int)
        with qtbot.waitSignal(window.image_shown, timeout=10_000):
            window.navigate(1)
        shown_m1 = window.canvas.image_item.image.astype(int)
        assert window.state.current.name == "m1.dcm"
        np.testing.assert_allclose(shown_m1, 255 - shown_m2, atol=1)
        assert shown_m1[0, 0] > 250  # the lowest stored value is white


class TestCanvasTools:
    def test_ruler_in_mm(self, qtbot, make_main_window, make_dicom):
        """A measure-tool drag makes a ruler labelled in mm."""
        path = make_dicom(pixels=np.zeros((100, 100), np.uint8), PixelSpacing=[0.5, 0.5])
        window = make_main_window()
        open_and_wait(qtbot, window, [str(path)])
        window.display.set_tool("measure")
        canvas = window.canvas
        vp = canvas.viewport()

        def to_view(x: float, y: float) -> QtCore.QPoint:
            return canvas.mapFromScene(canvas.image_item.mapToScene(QtCore.QPointF(x, y)))

        _drag(vp, QtCore.Qt.MouseButton.LeftButton, to_view(10, 50), to_view(90, 50))
        assert len(canvas.rulers) == 1
        value, unit = canvas.rulers[0].length()
        assert unit == "mm" and value == pytest.approx(40.0, abs=1.0)
        assert canvas.rulers[0].label.textItem.toPlainText().endswith("mm")

    def test_rotate_flip_and_zoom(self, qtbot, make_main_window, make_dicom):
        """Rotation swaps the displayed extent; 1:1 gives zoom 1; fit brings it back."""
        path = make_dicom(pixels=np.zeros((40, 80), np.uint8))
        window = make_main_window()
        open_and_wait(qtbot, window, [str(path)])
        canvas = window.canvas
        qtbot.keyClick(canvas, QtCore.Qt.Key.Key_BracketRight)
        rect = canvas.image_rect()
        assert (round(rect.width()), round(rect.height())) == (40, 80)
        qtbot.keyClick(canvas, QtCore.Qt.Key.Key_A)
        assert canvas.zoom() == pytest.approx(1.0, rel=0.02)
        qtbot.keyClick(canvas, QtCore.Qt.Key.Key_H)
        assert canvas.flip_h
        qtbot.keyClick(canvas, QtCore.Qt.Key.Key_F)
        assert canvas.zoom() > 1.5

    def test_frame_slider_multiframe(self, qtbot, make_main_window, make_dicom):
        """A multi-frame image shows the slider; moving it shows the other frame."""
        frames = np.stack([np.full((32, 32), v, np.uint8) for v in (10, 200)])
        path = make_dicom(pixels=frames, WindowCenter=128, WindowWidth=256)
        window = make_main_window()
        open_and_wait(qtbot, window, [str(path)])
        assert window.frame_control.isVisible()
        first = int(window.canvas.image_item.image[0, 0])
        with qtbot.waitSignal(window.state.image_changed, timeout=10_000):
            window.frame_control.slider.setValue(1)
        assert int(window.canvas.image_item.image[0, 0]) > first
        assert window.state.image.frame == 1

    def test_prediction_boxes_stay_on_their_image_pixels(self, qtbot, make_main_window, make_dicom):
        """A model box is drawn in the prediction colour over its image pixels, follows a
        rotation of the view, and a model run with no box clears it."""
        path = make_dicom(pixels=np.zeros((100, 100), np.uint8), WindowCenter=128, WindowWidth=256)
        window = make_main_window()
        open_and_wait(qtbot, window, [str(path)])
        canvas = window.canvas
        key = window.current_key()

        def colour_at(x: float, y: float) -> tuple[int, int, int]:
            """Screen colour at image pixel (x=column, y=row)."""
            at = canvas.mapFromScene(canvas.image_item.mapToScene(QtCore.QPointF(x, y)))
            c = canvas.viewport().grab().toImage().pixelColor(at)
            return c.red(), c.green(), c.blue()

        def is_red(rgb: tuple[int, int, int]) -> bool:  # "#ff3b30" (anti-aliased edges darker)
            r, g, b = rgb
            return r > 100 and r > 3 * g and r > 3 * b

        assert not is_red(colour_at(20, 50))
        window.review.review.set_predictions(key, "test.pt", [((20, 30, 80, 70), 0.9)])
        assert is_red(colour_at(20, 50)) and is_red(colour_at(50, 70))
        assert colour_at(50, 50) == (0, 0, 0)  # inside the box: the image
        canvas.rotate(1)
        assert is_red(colour_at(20, 50)) and colour_at(50, 50) == (0, 0, 0)
        window.review.review.set_predictions(key, "test.pt", [])
        assert colour_at(20, 50) == (0, 0, 0)


class TestMetadata:
    def test_filter_by_keyword_tag_and_value(self, qtbot, make_main_window, make_dicom):
        """The filter matches keywords, tag numbers and values."""
        window = make_main_window()
        open_and_wait(qtbot, window, [str(make_dicom(PatientID="XY123", ViewPosition="PA"))])
        panel = window.metadata
        panel.filter_edit.setText("patientid")
        assert panel.visible_keywords() == ["PatientID"]
        panel.filter_edit.setText("(0018,5101)")
        assert panel.visible_keywords() == ["ViewPosition"]
        panel.filter_edit.setText("xy123")
        assert panel.visible_keywords() == ["PatientID"]
        panel.filter_edit.setText("no such thing")
        assert panel.visible_keywords() == []
        panel.filter_edit.setText("")
        assert "Modality" in panel.visible_keywords()

    def test_sequences_private_tags_and_copy(self, qtbot, make_main_window):
        """Nested sequences expand; private tags show their creator; copy puts the value."""
        from pydicom import Dataset, dcmread
        from pydicom.data import get_testdata_file
        from pydicom.sequence import Sequence

        from viewer.panels.metadata_panel import MetadataPanel

        panel = MetadataPanel()
        qtbot.addWidget(panel)
        ds = Dataset()
        ds.PatientID = "P"
        ds.private_block(0x0009, "ACME 1.0", create=True).add_new(0x01, "LO", "secret")
        inner = Dataset()
        inner.CodeValue = "T-D3000"
        ds.AnatomicRegionSequence = Sequence([inner])
        panel.set_dataset(ds)
        keywords = panel.visible_keywords()
        assert "[ACME 1.0]" in keywords and "Private Creator" in keywords
        assert keywords[:3] == ["AnatomicRegionSequence", "Item 1", "CodeValue"]
        panel.filter_edit.setText("t-d3000")
        assert panel.visible_keywords() == ["AnatomicRegionSequence", "Item 1", "CodeValue"]
        panel.filter_edit.setText("0010,0010")
        ct = dcmread(get_testdata_file("CT_small.dcm"), stop_before_pixels=True)
        panel.set_dataset(ct)
        item = panel.tree.topLevelItem(0)
        while item.isHidden():
            item = panel.tree.itemBelow(item)
        panel.tree.setCurrentItem(item)
        assert panel.copy_value() == "CompressedSamples^CT1"
        assert QtWidgets.QApplication.clipboard().text() == "CompressedSamples^CT1"


class TestSettings:
    def test_round_trip(self, qtbot, make_main_window, mixed_folder):
        """Recent files, last folder, overlays and dock visibility survive a restart."""
        window = make_main_window()
        open_and_wait(qtbot, window, [str(mixed_folder)])
        window.metadata_dock.hide()
        window.display.act_overlays.trigger()
        window.close()
        again = make_main_window()
        assert again.prefs.recent[0] == str(mixed_folder)
        assert again.prefs.last_folder == str(mixed_folder)
        assert not again.display.act_overlays.isChecked() and not again.canvas.overlays_visible
        assert not again.metadata_dock.isVisible() and again.browser_dock.isVisible()
        menu_texts = [a.text() for a in again.recent_menu.actions()]
        assert str(mixed_folder) in menu_texts

    def test_damaged_settings_file_gives_defaults(self, qtbot, make_main_window, settings_path):
        """A garbled recent list is ignored instead of breaking startup."""
        settings_path.parent.mkdir(parents=True, exist_ok=True)
        settings_path.write_text("[General]\nrecent=not json\nshow_overlays=false\n")
        window = make_main_window()
        assert window.prefs.recent == [] and not window.canvas.overlays_visible


class TestHelp:
    def test_shortcuts_dialog_and_about(self, qtbot, make_main_window):
        """Help lists every shortcut; About names Qt, pydicom and torch versions."""
        from viewer.panels import dialogs

        window = make_main_window()
        rows = dict(dialogs.shortcut_rows(window.actions_made.actions))
        assert rows["Invert"] == "I" and rows["Next image"] == "PgDown"
        assert "Window/level" in rows
        text = dialogs.about_text()
        assert "Qt" in text and "pydicom" in text and "torch" in text
        window.act_shortcuts.trigger()
        dialog = window.findChild(dialogs.ShortcutsDialog)
        assert dialog is not None and dialog.table.rowCount() == len(rows)
        dialog.close()


def test_no_widget_leaks_after_close(qtbot, make_dicom):
    """Closing the window with images and a dialog open leaves no top-level widgets behind."""
    import pyqtgraph as pg

    from viewer.main_window import MainWindow
    from viewer.platform.settings import open_qsettings

    pg.setConfigOptions(imageAxisOrder="row-major")
    app = QtWidgets.QApplication.instance()
    before = {id(w) for w in app.topLevelWidgets()}
    window = MainWindow(settings=open_qsettings(Path(make_dicom().parent) / "s.ini"))
    window.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
    window.show()
    open_and_wait(qtbot, window, [str(make_dicom("x.dcm"))])
    window.act_shortcuts.trigger()
    window.close()
    QtWidgets.QApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
    QtWidgets.QApplication.processEvents()
    assert [w for w in app.topLevelWidgets() if id(w) not in before] == []
