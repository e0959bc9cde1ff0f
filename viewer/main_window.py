"""The main window: menus, docks, status bar; connects :class:`ViewerState` to the widgets.

Background work (folder scan, thumbnails, decoding) runs in superqt thread workers; their
results are applied here, on the GUI thread. Workers never touch widgets or the state.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets
from superqt.utils import WorkerBase

from detector.files.scan import Instance, Problem
from detector.imaging.decode import DicomImage
from detector.imaging.dicom_info import pixel_spacing
from detector.imaging.lut import Window
from detector.imaging.plain import NO_SPACING
from detector.imaging.read import DicomReadError
from viewer.canvas.box_layers import legend_html
from viewer.canvas.controls import FrameControl, WindowControl
from viewer.canvas.image_canvas import ImageCanvas
from viewer.canvas.overlay_text import corner_texts, cursor_text, format_name
from viewer.canvas.presets import PRESET_NAMES, drag_window, window_text
from viewer.detection.ui import DetectionUI
from viewer.loading.pixel_cache import PixelCache
from viewer.loading.scan_controller import ScanController, start_worker
from viewer.panels import dialogs
from viewer.panels.findings_table import FindingsPanel
from viewer.panels.metadata_panel import MetadataPanel
from viewer.panels.problems_panel import ProblemsPanel
from viewer.panels.study_browser import StudyBrowser
from viewer.panels.worklist import WorklistPanel
from viewer.platform.settings import AppSettings, load_settings, open_qsettings, save_settings
from viewer.platform.workers import load_frame
from viewer.review.actions import LEGEND_KEYS, ReviewActions
from viewer.review.controller import ReviewController
from viewer.review.file_menu import ReviewFileActions
from viewer.state import ViewerState

logger = logging.getLogger(__name__)


class MainWindow(QtWidgets.QMainWindow):
    """PneumoView's main window.

    Parameters
    ----------
    settings : QSettings, optional
        Where preferences live; the per-user INI file by default (tests pass their own).
    cache : PixelCache, optional
        Decoded-frame cache (bounded by bytes).

    Signals
    -------
    image_shown(object)
        A new image (Instance) has been painted on the canvas.
    scan_finished()
        A scan ended (completed or cancelled) and no other is queued.
    thumbnails_finished()
        The thumbnail queue is empty.
    """

    image_shown = QtCore.Signal(object)
    scan_finished = QtCore.Signal()
    thumbnails_finished = QtCore.Signal()

    def __init__(
        self,
        *,
        settings: QtCore.QSettings | None = None,
        cache: PixelCache | None = None,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("PneumoView")
        self.setObjectName("main_window")
        self.setAcceptDrops(True)
        self.state = ViewerState()
        self.cache = cache or PixelCache()
        self._store = settings if settings is not None else open_qsettings()
        self.prefs: AppSettings = load_settings(self._store)
        self._closing = False
        self.scan = ScanController(self)
        #: Set while the displayed image is decoding: thumbnails wait (see workers.thumbnails).
        self._foreground = threading.Event()
        # Scan, thumbnails, the displayed image and a prefetch may run at once; the default
        # pool (one thread per core) would make the displayed image wait for a free thread.
        pool = QtCore.QThreadPool.globalInstance()
        pool.setMaxThreadCount(max(pool.maxThreadCount(), 6))
        self._load_request = 0
        self._loading: tuple[str, int] | None = None
        self._prefetch_worker: WorkerBase | None = None
        self._shown_path: str | None = None
        self._drag_start: Window | None = None
        self._cursor: tuple[int, int] | None = None
        self._painted_instance: Instance | None = None
        #: The image the viewer picked by itself (not the user) until one is painted: if it
        #: cannot be decoded, the viewer moves on to the next image it can display.
        self._auto_pick: Instance | None = None
        #: The last scan summary shown in the status bar (refreshed when the problem count grows).
        self._summary = ""
        #: False in ``--screenshot`` runs: nothing is written to the settings file.
        self.persist_preferences = True

        self._build_widgets()
        self.review = ReviewController(self)
        self._build_review_docks()
        self._build_actions()
        self._build_menus_and_toolbar()
        self._connect_state()
        self._restore_layout()
        self.canvas.set_overlays_visible(self.prefs.show_overlays)
        self.act_overlays.setChecked(self.prefs.show_overlays)
        self.statusBar().showMessage("Drop DICOM files or folders, or use File \u2192 Open", 0)

    # -- construction -----------------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.canvas = ImageCanvas()
        self.canvas.setObjectName("image_canvas")
        self.frame_control = FrameControl()
        central = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.frame_control)
        self.setCentralWidget(central)

        self.browser = StudyBrowser(self.state)
        self.browser_dock = self._dock("Studies", "studies_dock", self.browser)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, self.browser_dock)
        self.metadata = MetadataPanel()
        self.metadata_dock = self._dock("Metadata", "metadata_dock", self.metadata)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, self.metadata_dock)
        self.problems = ProblemsPanel()
        self.problems_dock = self._dock("Problems", "problems_dock", self.problems)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.BottomDockWidgetArea, self.problems_dock)
        self.resizeDocks([self.problems_dock], [150], QtCore.Qt.Orientation.Vertical)
        self.problems_dock.hide()
        self.detection_ui = DetectionUI(self)
        self.detection = self.detection_ui.controller
        self.detection_panel = self.detection_ui.panel
        self.detection_dock = self.detection_ui.dock
        self.resizeDocks(
            [self.browser_dock, self.metadata_dock], [300, 430], QtCore.Qt.Orientation.Horizontal
        )

        self.window_control = WindowControl()
        self.progress = QtWidgets.QProgressBar()
        self.progress.setObjectName("scan_progress")
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_button = QtWidgets.QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop scanning (Esc)")
        self.cancel_button.clicked.connect(self.scan.cancel)
        self.cancel_button.hide()
        self.position_label = QtWidgets.QLabel("")
        self.problems_button = QtWidgets.QToolButton()
        self.problems_button.setAutoRaise(True)
        self.problems_button.clicked.connect(self._show_problems)
        self.problems_button.hide()
        bar = self.statusBar()
        bar.addPermanentWidget(self.problems_button)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)
        bar.addPermanentWidget(self.position_label)

    def _build_review_docks(self) -> None:
        self.findings = FindingsPanel(self.review)
        self.findings_dock = self._dock("Findings", "findings_dock", self.findings)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, self.findings_dock)
        self.worklist = WorklistPanel(self.review)
        self.worklist_dock = self._dock("Worklist", "worklist_dock", self.worklist)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, self.worklist_dock)
        self.tabifyDockWidget(self.browser_dock, self.worklist_dock)
        self.browser_dock.raise_()
        self.tabifyDockWidget(self.metadata_dock, self.findings_dock)
        self.findings_dock.raise_()
        self.review_label = QtWidgets.QLabel("")
        self.review_label.setObjectName("review_status")
        self.statusBar().addPermanentWidget(self.review_label)
        self.review.changed.connect(self._update_review_label)
        self.review.session_changed.connect(lambda _p: self._update_review_label())

    def _update_review_label(self) -> None:
        done, total = self.review.review_progress()
        session = Path(self.review.session_path).name if self.review.session_path else "not saved"
        self.review_label.setText(f"{done} of {total} reviewed • session: {session}")
        self.review_label.setToolTip(self.review.session_path)

    def _dock(self, title: str, name: str, widget: QtWidgets.QWidget) -> QtWidgets.QDockWidget:
        dock = QtWidgets.QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setAllowedAreas(QtCore.Qt.DockWidgetArea.AllDockWidgetAreas)
        return dock

    def _action(
        self,
        text: str,
        slot: Callable[..., object],
        shortcuts: Sequence[str | QtGui.QKeySequence.StandardKey] = (),
        *,
        checkable: bool = False,
        tip: str = "",
    ) -> QtGui.QAction:
        action = QtGui.QAction(text, self)
        keys = [QtGui.QKeySequence(k) for k in shortcuts]
        if keys:
            action.setShortcuts(keys)
        action.setCheckable(checkable)
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        self.addAction(action)
        self._all_actions.append(action)
        return action

    def _build_actions(self) -> None:
        self._all_actions: list[QtGui.QAction] = []
        a = self._action
        std = QtGui.QKeySequence.StandardKey
        self.act_open = a("&Open file(s)...", self.open_files_dialog, [std.Open])
        self.act_open_folder = a("Open &folder...", self.open_folder_dialog, ["Ctrl+Shift+O"])
        self.act_close_all = a("&Close all", self.close_all, ["Ctrl+W"])
        self.act_quit = a("&Quit", self.close, [std.Quit])
        self.act_cancel = a("Cancel scan / Pan tool", self._on_escape, ["Esc"])

        self.act_next = a("Next image", lambda: self.navigate(1), ["PgDown"])
        self.act_prev = a("Previous image", lambda: self.navigate(-1), ["PgUp"])
        self.act_first = a("First image", lambda: self.navigate(-(2**31)), ["Home"])
        self.act_last = a("Last image", lambda: self.navigate(2**31), ["End"])
        self.act_reviewed = a("Mark as reviewed", self.toggle_reviewed, ["Ctrl+R"], checkable=True)

        self.preset_actions = []
        for i, name in enumerate(PRESET_NAMES):
            label = "Header window (again: next one)" if name == "Header" else f"{name} window"
            self.preset_actions.append(
                a(label, lambda _=False, n=name: self.apply_preset(n), [str(i + 1)])
            )
        self.act_invert = a("&Invert", self.state.toggle_invert, ["I"], checkable=True)
        self.act_hist = a("Histogram &equalization", self._on_hist_triggered, ["E"], checkable=True)
        self.act_clahe = a("&CLAHE", self._on_clahe_triggered, ["C"], checkable=True)
        self.act_reset = a("&Reset window and view", self.reset_all, ["R"])

        self.act_fit = a("Zoom to &fit", self.canvas.fit, ["F"])
        self.act_actual = a("&Actual size (1:1)", self.canvas.actual_size, ["A"])
        self.act_zoom_in = a("Zoom in", lambda: self.canvas.zoom_by(1.25), ["+", "="])
        self.act_zoom_out = a("Zoom out", lambda: self.canvas.zoom_by(0.8), ["-"])
        self.act_rot_cw = a("Rotate 90\u00b0 clockwise", lambda: self.canvas.rotate(1), ["]"])
        self.act_rot_ccw = a(
            "Rotate 90\u00b0 counter-clockwise", lambda: self.canvas.rotate(-1), ["["]
        )
        self.act_flip_h = a("Flip &horizontal", self.canvas.toggle_flip_h, ["H"])
        self.act_flip_v = a("Flip &vertical", self.canvas.toggle_flip_v, ["V"])
        self.act_overlays = a("Corner &overlays", self._on_overlays_toggled, ["O"], checkable=True)
        self.act_clear_rulers = a("Delete rulers", self.canvas.clear_rulers, ["Shift+Del"])

        self.tool_group = QtGui.QActionGroup(self)
        self.tool_actions: dict[str, QtGui.QAction] = {}
        for tool, text, key in (
            ("pan", "&Pan tool (Esc)", ""),
            ("window", "&Window/level tool", "W"),
            ("measure", "&Measure tool (ruler)", "M"),
        ):
            keys = [key] if key else []
            act = a(text, lambda _=False, t=tool: self.set_tool(t), keys, checkable=True)
            self.tool_group.addAction(act)
            self.tool_actions[tool] = act
        self.tool_actions["pan"].setChecked(True)

        self.detection_ui.build_actions(a)

        self.review_actions = ReviewActions(self, a)
        self.detection_panel.set_legend(legend_html(self.review.layers.visibility(), LEGEND_KEYS))

        self.act_shortcuts = a("&Keyboard shortcuts", self.show_shortcuts, ["F1"])
        self.act_about = a("&About PneumoView", lambda: dialogs.show_about(self))

    def _build_menus_and_toolbar(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addActions([self.act_open, self.act_open_folder])
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.setObjectName("recent_menu")
        self.recent_menu.aboutToShow.connect(self._rebuild_recent_menu)
        self._rebuild_recent_menu()
        file_menu.addSeparator()
        self.review_files = ReviewFileActions(self)
        self.review_files.fill_menu(file_menu)
        file_menu.addSeparator()
        file_menu.addActions([self.act_close_all, self.act_quit])

        nav = bar.addMenu("&Navigate")
        nav.addActions([self.act_next, self.act_prev, self.act_first, self.act_last])
        nav.addSeparator()
        nav.addAction(self.act_reviewed)

        image = bar.addMenu("&Image")
        presets = image.addMenu("Window &presets")
        presets.addActions(self.preset_actions)
        image.addActions([self.act_invert, self.act_hist, self.act_clahe, self.act_reset])
        image.addSeparator()
        image.addActions([self.act_fit, self.act_actual, self.act_zoom_in, self.act_zoom_out])
        image.addSeparator()
        image.addActions([self.act_rot_cw, self.act_rot_ccw, self.act_flip_h, self.act_flip_v])

        tools = bar.addMenu("&Tools")
        tools.addActions(list(self.tool_actions.values()))
        tools.addAction(self.act_clear_rulers)

        review_menu = bar.addMenu("&Review")
        self.review_actions.fill_menu(review_menu)

        self.detection_ui.fill_menu(bar.addMenu("&Detection"))

        view = bar.addMenu("&View")
        view.addAction(self.act_overlays)
        view.addSeparator()
        for dock in (
            self.browser_dock,
            self.metadata_dock,
            self.detection_dock,
            self.findings_dock,
            self.worklist_dock,
            self.problems_dock,
        ):
            view.addAction(dock.toggleViewAction())

        help_menu = bar.addMenu("&Help")
        help_menu.addActions([self.act_shortcuts, self.act_about])

        tb = self.addToolBar("Main")
        tb.setObjectName("main_toolbar")
        tb.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.act_open.setIconText("Open")
        self.act_open_folder.setIconText("Folder")
        tb.addActions([self.act_open, self.act_open_folder])
        tb.addSeparator()
        for tool, text in (("pan", "Pan"), ("window", "W/L"), ("measure", "Ruler")):
            self.tool_actions[tool].setIconText(text)
            tb.addAction(self.tool_actions[tool])
        tb.addSeparator()
        tb.addWidget(self.window_control)
        for act, text in (
            (self.act_invert, "Invert"),
            (self.act_hist, "Equalize"),
            (self.act_clahe, "CLAHE"),
            (self.act_reset, "Reset"),
        ):
            act.setIconText(text)
            tb.addAction(act)
        tb.addSeparator()
        for act, text in (
            (self.act_fit, "Fit"),
            (self.act_actual, "1:1"),
            (self.act_rot_ccw, "\u21ba"),
            (self.act_rot_cw, "\u21bb"),
            (self.act_flip_h, "\u2194"),
            (self.act_flip_v, "\u2195"),
        ):
            act.setIconText(text)
            tb.addAction(act)

    def _connect_state(self) -> None:
        st = self.state
        st.problems_added.connect(self._on_state_problems_added)
        st.current_changed.connect(self._on_state_current_changed)
        st.image_changed.connect(self._on_state_image_changed)
        st.display_changed.connect(self._on_state_display_changed)
        st.frame_changed.connect(self._on_state_frame_changed)
        st.reviewed_changed.connect(self._on_state_reviewed_changed)
        st.images_added.connect(self._on_state_images_added)
        self.browser.instance_selected.connect(self.state.set_current)
        self.browser.navigate_requested.connect(self.navigate)
        self.canvas.navigate_requested.connect(self.navigate)
        self.canvas.frame_step_requested.connect(
            lambda d: self.state.set_frame(self.state.frame + d)
        )
        self.canvas.window_drag_started.connect(self._on_canvas_window_drag_started)
        self.canvas.window_dragged.connect(self._on_canvas_window_dragged)
        self.canvas.window_drag_finished.connect(self._on_canvas_window_drag_finished)
        self.canvas.cursor_moved.connect(self._on_canvas_cursor_moved)
        self.canvas.view_changed.connect(self._update_overlays)
        self.canvas.painted.connect(self._on_canvas_painted)
        self.frame_control.frame_requested.connect(self.state.set_frame)
        self.window_control.preset_chosen.connect(self.apply_preset)
        self.problems.count_changed.connect(self._on_problems_count_changed)
        self.scan.finished.connect(self._on_scan_finished)
        self.scan.thumbnails_finished.connect(self.thumbnails_finished)
        self.detection_ui.connect()
        self.review.message.connect(lambda text: self.statusBar().showMessage(text, 5000))

    @property
    def is_scanning(self) -> bool:
        return self.scan.is_scanning

    @property
    def thumbnails_pending(self) -> bool:
        return self.scan.thumbnails_pending

    # -- settings ---------------------------------------------------------------------------

    def _restore_layout(self) -> None:
        if self.prefs.geometry:
            self.restoreGeometry(QtCore.QByteArray(self.prefs.geometry))
        else:
            self.resize(1400, 900)
        if self.prefs.window_state:
            self.restoreState(QtCore.QByteArray(self.prefs.window_state))

    def save_preferences(self) -> None:
        self.prefs.geometry = bytes(self.saveGeometry().data())
        self.prefs.window_state = bytes(self.saveState().data())
        self.prefs.show_overlays = self.act_overlays.isChecked()
        save_settings(self.prefs, self._store)

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.prefs.recent:
            act = self.recent_menu.addAction(path)
            act.triggered.connect(lambda _=False, p=path: self.open_paths([p]))
            act.setEnabled(os.path.exists(path))
        if not self.prefs.recent:
            self.recent_menu.addAction("(none)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", self._clear_recent)

    def _clear_recent(self) -> None:
        self.prefs.recent = []
        self._rebuild_recent_menu()

    # -- opening ----------------------------------------------------------------------------

    def open_files_dialog(self) -> None:
        files, _ = QtWidgets.QFileDialog.getOpenFileNames(
            self, "Open DICOM files", self.prefs.last_folder, "All files (*)"
        )
        if files:
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(
            self, "Open folder (scanned recursively)", self.prefs.last_folder
        )
        if folder:
            self.open_paths([folder])

    def open_paths(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        recent: Sequence[str | os.PathLike[str]] | None = None,
    ) -> None:
        """Scan files and folders in the background; images appear in the browser as found.

        ``recent`` is what File > Recent remembers (``paths`` by default). The review session
        of the first folder is opened (see :class:`viewer.review.controller.ReviewController`).
        """
        self.scan.open_paths(paths, recent=recent)

    def cancel_scan(self) -> None:
        """Stop the running scan (images found so far stay open) and drop queued scans."""
        self.scan.cancel()

    def _on_scan_finished(self) -> None:
        self.progress.hide()
        self.cancel_button.hide()
        self._summary = self._scan_summary()
        self.statusBar().showMessage(self._summary)
        self._update_position_label()
        self.scan_finished.emit()

    def _scan_summary(self) -> str:
        """The status-bar summary: "N images open; M problems (see Problems)", M being exactly
        what the Problems panel lists (scan failures and images whose pixels do not decode)."""
        n_images = len(self.state.images())
        n_problems = len(self.problems.problems)
        if n_images == 0 and n_problems == 0:
            return "No DICOM files found"
        msg = f"{n_images} image{'s' if n_images != 1 else ''} open"
        if n_problems:
            msg += f"; {n_problems} problem{'s' if n_problems != 1 else ''} (see Problems)"
        side = sum(1 for s in self.state.result.skipped if s.side_file)
        if side:
            msg += f"; {side} file{'s' if side != 1 else ''} skipped (not images)"
        return msg

    def _on_state_images_added(self, instances: list[Instance]) -> None:
        self.detection_ui.images_added(instances)
        if self.state.current is None:
            # Starts decoding the first image before any thumbnail.
            self._auto_pick = self.state.go_to(0)
        elif self.state.current is self._auto_pick and self._auto_pick.path in self._failed():
            self._pick_displayable()  # the picked image failed; a newly found one may not
        self.scan.add_thumbnails(instances)
        self._update_position_label()
        self._update_overlays()  # "image i / n" grows while the scan runs

    def _on_state_problems_added(self, problems: list[Problem]) -> None:
        self.problems.add_problems(problems)

    def _on_problems_count_changed(self, count: int) -> None:
        if self._summary:
            showing = self.statusBar().currentMessage() == self._summary
            self._summary = self._scan_summary()
            if showing:
                self.statusBar().showMessage(self._summary)
        self.problems_dock.setWindowTitle(f"Problems ({count})" if count else "Problems")
        self.problems_button.setText(f"\u26a0 {count} problem{'s' if count != 1 else ''}")
        self.problems_button.setVisible(count > 0)
        if count and not self.problems_dock.isVisible() and not self._problems_shown_once:
            self._problems_shown_once = True
            self.problems_dock.show()

    _problems_shown_once = False

    def _show_problems(self) -> None:
        self.problems_dock.show()
        self.problems_dock.raise_()

    def close_all(self) -> None:
        self.scan.cancel()
        self.scan.clear_thumbnails()
        self.cache.clear()
        self.problems.clear()
        self._shown_path = None
        self._auto_pick = None
        self._summary = ""
        self.state.clear()
        self._update_position_label()
        self.statusBar().showMessage("Closed all images", 3000)

    # -- navigation -------------------------------------------------------------------------

    def navigate(self, delta: int) -> None:
        """Move through the images: +-1 next/previous, huge values first/last."""
        if delta <= -(2**31):
            self.state.go_to(0)
        elif delta >= 2**31:
            self.state.go_to(-1)
        else:
            self.state.step(delta)

    def toggle_reviewed(self) -> None:
        self.review.toggle_reviewed()

    def _on_state_reviewed_changed(self, _uid: str, _reviewed: bool) -> None:
        inst = self.state.current
        self.act_reviewed.setChecked(inst is not None and self.state.is_reviewed(inst))

    def _update_position_label(self) -> None:
        n = len(self.state.images())
        i = self.state.index_of(self.state.current)
        self.position_label.setText(
            f"Image {i + 1} / {n}" if i >= 0 else (f"{n} images" if n else "")
        )

    # -- current image ----------------------------------------------------------------------

    def _on_state_current_changed(self, inst: Instance | None) -> None:
        self._update_position_label()
        self.act_reviewed.setChecked(inst is not None and self.state.is_reviewed(inst))
        if inst is None:
            self.metadata.set_dataset(None)
            self.frame_control.set_frames(1)
            self.canvas.clear_image()
            self._shown_path = None
            self.review.image_shown()
            self.setWindowTitle("PneumoView")
            return
        self.metadata.set_dataset(inst.header, inst.path)
        self.frame_control.set_frames(inst.n_frames)
        name = format_name(str(inst.header.get("PatientName", "") or "")) or "(no name)"
        self.setWindowTitle(f"{inst.name} \u2014 {name} \u2014 PneumoView")
        self._request_frame(inst, 0)

    def _on_state_frame_changed(self, frame: int) -> None:
        if self.state.current is not None:
            self.frame_control.set_frame(frame)
            self._request_frame(self.state.current, frame)

    def _request_frame(self, inst: Instance, frame: int) -> None:
        cached = self.cache.get(inst.path, frame)
        if cached is not None:
            self._foreground.set()
            self.state.set_image(cached)
            return
        self._load_request += 1
        request = self._load_request
        self._loading = (inst.path, frame)
        self._foreground.set()
        self.statusBar().showMessage(f"Loading {inst.name}...")
        start_worker(
            load_frame,
            inst.path,
            frame,
            connect={
                "returned": lambda image, r=request: self._on_load_returned(r, image),
                "errored": lambda exc, r=request, i=inst: self._on_load_errored(r, i, exc),
            },
        )

    def _on_load_returned(self, request: int, image: DicomImage) -> None:
        if self._closing:
            return
        self.cache.put(image)
        if request != self._load_request:
            return  # the reader moved on; the frame stays cached
        self._loading = None
        current = self.state.current
        if current is not None and current.path == image.path and self.state.frame == image.frame:
            self.state.set_image(image)
        # "Loading ..." gives way to the scan summary (empty while a scan runs).
        self.statusBar().showMessage(self._summary)

    def _on_load_errored(self, request: int, inst: Instance, exc: Exception) -> None:
        if self._closing:
            return
        reason = exc.reason if isinstance(exc, DicomReadError) else f"{type(exc).__name__}: {exc}"
        if request == self._load_request:
            self._loading = None
            self._foreground.clear()
            self.canvas.clear_image(f"Cannot display {inst.name}\n{reason}")
            self._shown_path = None
            self.statusBar().showMessage(f"{inst.name}: {reason}")
        self._report_problem(inst.path, reason)
        if inst is self._auto_pick and inst is self.state.current:
            self._pick_displayable()

    def _failed(self) -> set[str]:
        """Paths listed in the Problems panel (their pixels cannot be shown)."""
        return {p.path for p in self.state.problems}

    def _pick_displayable(self) -> None:
        """Move from an undecodable first image to the first image not known to fail."""
        failed = self._failed()
        nxt = next((i for i in self.state.images() if i.path not in failed), None)
        if nxt is not None:
            self._auto_pick = nxt
            # The failure is in the Problems panel; "Loading ..." or the summary replaces it.
            self.statusBar().showMessage(self._summary)
            self.state.set_current(nxt)

    def _report_problem(self, path: str, reason: str) -> None:
        """A listed image whose pixels cannot be decoded goes to the Problems panel (once)."""
        if not any(p.path == path for p in self.state.problems):
            problem = Problem(path, reason)
            self.state.result.problems.append(problem)
            self.state.problems_added.emit([problem])

    def _prefetch_next(self) -> None:
        """Decode the next image in the background so PageDown shows it at once."""
        if self._prefetch_worker is not None or self._closing:
            return
        images = self.state.images()
        i = self.state.index_of(self.state.current)
        if i < 0 or i + 1 >= len(images):
            return
        nxt = images[i + 1]
        if (nxt.path, 0) in self.cache:
            return
        # A failure here is reported when the reader reaches that image.
        self._prefetch_worker = start_worker(
            load_frame,
            nxt.path,
            0,
            connect={
                "returned": self._on_prefetch_returned,
                "errored": lambda exc: logger.debug("prefetch failed: %s", exc),
                "finished": self._on_prefetch_finished,
            },
        )

    def _on_prefetch_returned(self, image: DicomImage) -> None:
        if not self._closing:
            self.cache.put(image)

    def _on_prefetch_finished(self) -> None:
        self._prefetch_worker = None

    def _on_state_image_changed(self, image: DicomImage | None) -> None:
        if image is None:
            return
        display = self.state.render()
        if display is None:
            return
        if image.path != self._shown_path:
            inst = self.state.current
            spacing = pixel_spacing(inst.header if inst is not None else image.header)
            self._shown_path = image.path
            self._painted_instance = inst
            note = "no pixel spacing" if image.is_dicom else NO_SPACING
            self.canvas.set_image(display, spacing=spacing, no_spacing_note=note)
            self.review.image_shown()
            # Thumbnails resume once this image is painted (they would compete for the GIL);
            # the timer covers a window that never paints (minimised).
            QtCore.QTimer.singleShot(500, self._foreground.clear)
        else:
            self.canvas.update_pixels(display)
            self._foreground.clear()
            self.review.image_shown()  # another frame: its own boxes
        self._update_display_controls()
        for message in image.warnings:
            self.statusBar().showMessage(f"{Path(image.path).name}: {message}", 8000)

    def _on_canvas_painted(self) -> None:
        self._foreground.clear()
        inst = self._painted_instance
        if inst is not None:
            self._auto_pick = None
            self.image_shown.emit(inst)
            QtCore.QTimer.singleShot(0, self._prefetch_next)

    def _on_state_display_changed(self) -> None:
        if self.state.image is None:
            return
        display = self.state.render()
        if display is not None:
            self.canvas.update_pixels(display)
        self._update_display_controls()

    def _update_display_controls(self) -> None:
        st = self.state
        window = st.effective_window
        self.window_control.show_window(
            st.preset if st.window is not None else "Header",
            window_text(window) if window is not None else "",
        )
        self.act_invert.setChecked(st.invert)
        self.act_hist.setChecked(st.equalize == "hist")
        self.act_clahe.setChecked(st.equalize == "clahe")
        self._update_overlays()

    def _update_overlays(self) -> None:
        st = self.state
        inst = st.current
        if inst is None or st.image is None:
            return
        texts = corner_texts(
            inst.header,
            st.image,
            st.effective_window,
            zoom=self.canvas.zoom(),
            index=st.index_of(inst),
            count=len(st.images()),
            invert=st.invert,
            equalize=st.equalize,
        )
        if self._cursor is not None:
            texts["bottom_right"] = cursor_text(st.image, *self._cursor)
        self.canvas.set_overlay_text(texts)
        self.canvas.update_ruler_labels()

    def _on_canvas_cursor_moved(self, cursor: tuple[int, int] | None) -> None:
        self._cursor = cursor
        image = self.state.image
        text = cursor_text(image, *cursor) if cursor is not None and image is not None else ""
        self.canvas.set_corner_text("bottom_right", text)
        if not self.canvas.overlays_visible:
            self.statusBar().showMessage(text.replace("\n", "   "))

    # -- display actions --------------------------------------------------------------------

    def apply_preset(self, name: str) -> None:
        if self.state.image is None or self.state.image.is_color:
            return
        window = self.state.apply_preset(name)
        if window is not None:
            self.statusBar().showMessage(f"{name}: {window.label()}", 3000)

    def _on_hist_triggered(self, checked: bool) -> None:
        self.state.set_equalize("hist" if checked else "none")

    def _on_clahe_triggered(self, checked: bool) -> None:
        if checked:
            QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.CursorShape.WaitCursor)
            try:
                self.state.set_equalize("clahe")
            finally:
                QtWidgets.QApplication.restoreOverrideCursor()
        else:
            self.state.set_equalize("none")

    def reset_all(self) -> None:
        self.state.reset_display()
        self.canvas.reset_view()

    def set_tool(self, tool: str) -> None:
        self.canvas.set_tool(tool)
        self.tool_actions[tool].setChecked(True)
        self.statusBar().showMessage(
            {
                "pan": "Pan: left-drag moves the image",
                "window": "Window/level: left- or right-drag (horizontal = width, vertical = level)",
                "measure": "Measure: left-drag draws a ruler (Del removes rulers)",
            }[tool],
            4000,
        )

    def _on_escape(self) -> None:
        if self.scan.is_scanning:
            self.scan.cancel()
        else:
            self.set_tool("pan")

    def _on_overlays_toggled(self, checked: bool) -> None:
        self.canvas.set_overlays_visible(checked)
        self.prefs.show_overlays = checked

    def _on_canvas_window_drag_started(self) -> None:
        image = self.state.image
        window = self.state.effective_window
        if image is None or window is None or image.is_color:
            self._drag_start = None
            return
        self._drag_start = image.auto_window if window.kind == "lut" else window

    def _on_canvas_window_dragged(self, dx: float, dy: float) -> None:
        image = self.state.image
        if self._drag_start is None or image is None:
            return
        lo, hi = image.modality_range
        self.state.set_window(drag_window(self._drag_start, dx, dy, hi - lo), preset="Custom")

    def _on_canvas_window_drag_finished(self) -> None:
        self._drag_start = None

    def show_shortcuts(self) -> None:
        dialog = dialogs.ShortcutsDialog(self._all_actions, self)
        dialog.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()

    # -- detection (see viewer.detection.ui) ------------------------------------------------

    def current_key(self) -> str | None:
        """Review key of the image and frame on screen (``None`` when nothing is shown)."""
        return self.review.current_key

    def load_model(self, path: str) -> None:
        """Use the checkpoint at ``path`` (loaded in the background, shown in the dock)."""
        self.detection.load_model(path)

    def detect_current(self) -> None:
        """Run the detector on the image (and frame) on screen (key D)."""
        self.detection_ui.detect_current()

    def detect_all(self) -> None:
        """Run the detector on every open image (key Shift+D); results stream in."""
        self.detection_ui.detect_all()

    # -- drag and drop ----------------------------------------------------------------------

    @staticmethod
    def _local_paths(mime: QtCore.QMimeData) -> list[str]:
        return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]

    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if self._local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QtGui.QDragMoveEvent) -> None:  # noqa: N802 - Qt override
        if self._local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:  # noqa: N802 - Qt override
        paths = self._local_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    # -- shutdown ---------------------------------------------------------------------------

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802 - Qt override
        self._closing = True
        self._foreground.clear()
        self.scan.shutdown()  # stops the scan and thumbnail workers
        self.frame_control.stop()
        self.canvas.clear_rulers()
        self.detection.shutdown()
        self.review.close()
        if self._prefetch_worker is not None:
            self._prefetch_worker.quit()
        try:
            WorkerBase.await_workers(msecs=10_000)
        except RuntimeError:
            logger.warning("background work did not stop within 10 s")
        try:
            if self.persist_preferences:
                self.save_preferences()
        except OSError as exc:
            logger.warning("settings not saved: %s", exc)
        super().closeEvent(event)
