"""The main window: menus, docks, status bar; builds the viewer's parts and connects them.

Each part gets the collaborators it uses (the :class:`ViewerState`, the canvas, the
preferences) and talks back through Qt signals: :class:`viewer.loading.scan_controller.
ScanController` (opening), :class:`viewer.loading.frame_loader.FrameLoader` (decoding),
:class:`viewer.canvas.display.ImageDisplay` (drawing, display actions),
:class:`viewer.review.controller.ReviewController` and :class:`viewer.detection.ui.DetectionUI`.
Background work runs in superqt thread workers whose results are applied on the GUI thread.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from PySide6 import QtCore, QtGui, QtWidgets
from superqt.utils import WorkerBase

from detector.files.scan import Instance
from viewer.canvas.controls import FrameControl, WindowControl
from viewer.canvas.display import ImageDisplay
from viewer.canvas.image_canvas import ImageCanvas
from viewer.canvas.overlay_text import format_name
from viewer.canvas.presentation_states import PresentationStates
from viewer.canvas.sr_layer import SrLayer
from viewer.detection.controller import DetectionController
from viewer.detection.ui import DetectionUI
from viewer.loading.frame_loader import FrameLoader
from viewer.loading.pixel_cache import PixelCache
from viewer.loading.scan_controller import ScanController
from viewer.loading.scan_status import ScanStatus
from viewer.pacs.actions import PacsActions
from viewer.panels import dialogs
from viewer.panels.findings_table import FindingsPanel
from viewer.panels.key_hint import KeyHintBar
from viewer.panels.metadata_panel import MetadataPanel
from viewer.panels.problems_dock import ProblemsDock
from viewer.panels.recent_menu import RecentMenu
from viewer.panels.study_browser import StudyBrowser
from viewer.panels.worklist import WorklistPanel
from viewer.platform.action_factory import ActionFactory
from viewer.platform.file_drop import FileDrop
from viewer.platform.settings import AppSettings, load_settings, open_qsettings, save_settings
from viewer.platform.user_folders import cache_dir
from viewer.review.actions import ReviewActions
from viewer.review.controller import ReviewController
from viewer.review.file_menu import ReviewFileActions
from viewer.review.report_action import ReportAction
from viewer.review.session_view import SessionView
from viewer.review.sr_findings import SrFindings
from viewer.review.status_label import ReviewStatusLabel
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
        self.installEventFilter(FileDrop(self.open_paths, self))
        self.state = ViewerState()
        self.cache = cache or PixelCache()
        self._store = settings if settings is not None else open_qsettings()
        self.prefs: AppSettings = load_settings(self._store)
        self.state.keep_window = self.prefs.keep_window
        # Scan, thumbnails, the displayed image and a prefetch may run at once; the default
        # pool (one thread per core) would make the displayed image wait for a free thread.
        pool = QtCore.QThreadPool.globalInstance()
        pool.setMaxThreadCount(max(pool.maxThreadCount(), 6))
        #: False in ``--screenshot`` runs: nothing is written to the settings file.
        self.persist_preferences = True

        self._build_widgets()
        self._build_review_docks()
        self._build_actions()
        self._build_menus_and_toolbar()
        self._connect_state()
        self._restore_layout()
        self.canvas.set_overlays_visible(self.prefs.show_overlays)
        self.display.act_overlays.setChecked(self.prefs.show_overlays)
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
        self.key_hint = KeyHintBar(self.prefs)
        layout.addWidget(self.key_hint)
        layout.addWidget(self.frame_control)
        self.setCentralWidget(central)

        self.browser = StudyBrowser(self.state)
        self.browser_dock = self._dock("Studies", "studies_dock", self.browser)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, self.browser_dock)
        self.metadata = MetadataPanel()
        self.metadata_dock = self._dock("Metadata", "metadata_dock", self.metadata)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, self.metadata_dock)
        self.problems_dock = ProblemsDock(self.state, self)
        self.problems = self.problems_dock.panel
        self.addDockWidget(QtCore.Qt.DockWidgetArea.BottomDockWidgetArea, self.problems_dock)
        self.resizeDocks([self.problems_dock], [150], QtCore.Qt.Orientation.Vertical)
        self.problems_dock.hide()
        self.loader = FrameLoader(self.state, self.cache, self)
        self.scan = ScanController(
            self.state, self.cache, self.prefs, self.browser, self.loader.foreground, self
        )
        self.detection = DetectionController(self, pixel_cache=self.cache)
        self.review = ReviewController(self.state, self.canvas, self.detection, self.browser, self)
        self.sr_findings = SrFindings(
            self.state,
            self.review,
            SrLayer(self.canvas.image_item),
            lambda text: self.statusBar().showMessage(text, 5000),
            self,
        )
        self.detection_ui = DetectionUI(self.detection, self.state, self.prefs, self.review, self)
        self.detection_ui.session_path = lambda: self.review.session_path
        self.detection_panel = self.detection_ui.panel
        self.detection_dock = self.detection_ui.dock
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, self.detection_dock)
        self.resizeDocks(
            [self.browser_dock, self.metadata_dock], [300, 430], QtCore.Qt.Orientation.Horizontal
        )

        self.window_control = WindowControl()
        self.display = ImageDisplay(
            self.state,
            self.canvas,
            self.window_control,
            self.prefs,
            self.loader.foreground,
            self.statusBar().showMessage,
            self,
        )
        self.display.overlays_read.connect(self.metadata.set_overlays)
        self.presentations = PresentationStates(
            self.state, self.canvas, self.statusBar().showMessage, self
        )
        bar = self.statusBar()
        self.scan_status = ScanStatus(self.scan, self.state, self.problems, bar, self)
        self.progress = self.scan_status.progress
        self.problems_button = self.problems_dock.button
        self.position_label = QtWidgets.QLabel("")
        for widget in (self.problems_button, self.progress, self.scan_status.cancel_button):
            bar.addPermanentWidget(widget)
        bar.addPermanentWidget(self.position_label)

    def _build_review_docks(self) -> None:
        self.findings = FindingsPanel(self.review, self.review.layers)
        self.review.changed.connect(self.findings.refresh)
        self.review.compare_changed.connect(self.findings.show_compare)
        self.findings_dock = self._dock("Findings", "findings_dock", self.findings)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, self.findings_dock)
        self.worklist = WorklistPanel(
            self.state,
            self.review,
            focus_image=self.canvas.setFocus,
            show_message=lambda text: self.statusBar().showMessage(text, 5000),
        )
        self.review.changed.connect(self.worklist.schedule)
        self.worklist_dock = self._dock("Worklist", "worklist_dock", self.worklist)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, self.worklist_dock)
        self.tabifyDockWidget(self.browser_dock, self.worklist_dock)
        self.browser_dock.raise_()
        self.tabifyDockWidget(self.metadata_dock, self.findings_dock)
        self.findings_dock.raise_()
        # Before the frame loader's first-image pick (connected later): a remembered image
        # is shown at once instead of after the first file.
        self.session_view = SessionView(
            self.state,
            self.review,
            self.detection,
            self.statusBar().showMessage,
            self.findings.iou_spin.setValue,
            self.detection_panel.show_model_error,
            self,
            show_order=self.worklist.set_order,
        )
        self.worklist.order_changed.connect(self.session_view.write_order)
        self.review_label = ReviewStatusLabel(self.review)
        self.statusBar().addPermanentWidget(self.review_label)

    def _dock(self, title: str, name: str, widget: QtWidgets.QWidget) -> QtWidgets.QDockWidget:
        dock = QtWidgets.QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setAllowedAreas(QtCore.Qt.DockWidgetArea.AllDockWidgetAreas)
        return dock

    def _build_actions(self) -> None:
        self.actions_made = a = ActionFactory(self)
        std = QtGui.QKeySequence.StandardKey
        self.act_open = a("&Open file(s)...", self.open_files_dialog, [std.Open])
        self.act_open_folder = a("Open &folder...", self.open_folder_dialog, ["Ctrl+Alt+O"])
        self.act_close_all = a("&Close all", self.close_all, ["Ctrl+W"])
        self.act_quit = a("&Quit", self.close, [std.Quit])
        self.act_cancel = a("Cancel scan / Pan tool", self._on_escape, ["Esc"])

        self.act_next = a("Next image", lambda: self.navigate(1), ["PgDown"])
        self.act_prev = a("Previous image", lambda: self.navigate(-1), ["PgUp"])
        self.act_first = a("First image", lambda: self.navigate(-(2**31)), ["Home"])
        self.act_last = a("Last image", lambda: self.navigate(2**31), ["End"])
        self.act_reviewed = a("Mark as reviewed", self.toggle_reviewed, ["Ctrl+R"], checkable=True)
        self.display.build_actions(a)
        self.presentations.build_actions(a)
        self.display.act_reset.triggered.connect(self.presentations.forget)
        self.act_keep_window = a(
            "&Keep window/level across images", self._on_keep_window_toggled, checkable=True
        )
        self.act_keep_window.setChecked(self.prefs.keep_window)

        self.detection_ui.build_actions(a)

        self.review_actions = ReviewActions(self.review, a, self._show_legend)
        self.sr_findings.build_actions(a)
        self.sr_findings.legend_changed.connect(
            lambda: self._show_legend(self.review_actions.legend())
        )
        self.worklist.build_actions(a)
        self.report_action = ReportAction(
            self.review, a, lambda text: self.statusBar().showMessage(text, 10_000), self
        )
        self._show_legend(self.review_actions.legend())
        self.pacs = PacsActions(
            a,
            self.open_paths,
            lambda: self.review.review,
            lambda: str(cache_dir()),
            self.statusBar().showMessage,
            self,
        )

        self.act_shortcuts = a("&Keyboard shortcuts", self.show_shortcuts, ["F1"])
        self.act_about = a("&About PneumoView", lambda: dialogs.show_about(self))

    def _build_menus_and_toolbar(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addActions([self.act_open, self.act_open_folder])
        self.recent_menu = RecentMenu(self.prefs, lambda path: self.open_paths([path]), file_menu)
        file_menu.addMenu(self.recent_menu)
        file_menu.addAction(self.pacs.act_pacs)
        file_menu.addSeparator()
        self.review_files = ReviewFileActions(
            self.review, self.prefs, self.statusBar().showMessage, self
        )
        self.review_files.fill_menu(file_menu)
        file_menu.addSeparator()
        file_menu.addActions([self.act_close_all, self.act_quit])

        nav = bar.addMenu("&Navigate")
        nav.addActions([self.act_next, self.act_prev, self.act_first, self.act_last])
        nav.addSeparator()
        nav.addActions(self.worklist.key_actions)
        nav.addSeparator()
        nav.addAction(self.act_reviewed)

        self.display.fill_image_menu(bar.addMenu("&Image"))
        self.display.fill_tools_menu(bar.addMenu("&Tools"))

        review_menu = bar.addMenu("&Review")
        self.review_actions.fill_menu(review_menu)
        self.sr_findings.fill_menu(review_menu)
        review_menu.addSeparator()
        review_menu.addAction(self.report_action.act_report)
        review_menu.addAction(self.pacs.act_send)
        review_menu.addAction(self.pacs.act_cancel_send)

        self.detection_ui.fill_menu(bar.addMenu("&Detection"))

        view = bar.addMenu("&View")
        view.addActions([self.display.act_overlays, self.act_keep_window])
        self.presentations.fill_menu(view)
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
        self.display.fill_toolbar(tb)
        tb.addSeparator()
        tb.addAction(self.worklist.act_worklist_order)

    def _connect_state(self) -> None:
        st = self.state
        st.current_changed.connect(self._on_state_current_changed)
        st.frame_changed.connect(self._on_state_frame_changed)
        st.reviewed_changed.connect(self._on_state_reviewed_changed)
        st.images_added.connect(self._on_state_images_added)
        self.browser.instance_selected.connect(self.state.set_current)
        self.browser.navigate_requested.connect(self.navigate)
        self.canvas.navigate_requested.connect(self.navigate)
        self.canvas.frame_step_requested.connect(
            lambda d: self.state.set_frame(self.state.frame + d)
        )
        self.frame_control.frame_requested.connect(self.state.set_frame)
        show = self.statusBar().showMessage
        self.scan.opening.connect(self._on_scan_opening)
        self.scan.message.connect(show)
        self.scan.failed.connect(
            lambda text: QtWidgets.QMessageBox.warning(
                self, "Scan failed", f"The folder scan stopped: {text}"
            )
        )
        self.scan.finished.connect(self._on_scan_finished)
        self.scan.thumbnails_finished.connect(self.thumbnails_finished)
        self.loader.loading.connect(show)
        self.loader.settled.connect(self.scan_status.show_summary)
        self.loader.failed.connect(self._on_load_failed)
        self.display.frame_shown.connect(self.review.image_shown)
        self.display.painted.connect(self._on_painted)
        self.detection_ui.message.connect(show)
        self.review.changed.connect(self.detection_ui.show_counts)
        self.review.message.connect(lambda text: show(text, 5000))

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

    def _on_keep_window_toggled(self, checked: bool) -> None:
        self.state.keep_window = self.prefs.keep_window = bool(checked)

    def save_preferences(self) -> None:
        self.prefs.geometry = bytes(self.saveGeometry().data())
        self.prefs.window_state = bytes(self.saveState().data())
        self.prefs.show_overlays = self.display.act_overlays.isChecked()
        save_settings(self.prefs, self._store)

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

    def _on_scan_opening(self, recent: list[str]) -> None:
        if self.persist_preferences:  # --screenshot runs write nothing (the review stays in memory)
            self.review.ensure_session(recent)
        self.recent_menu.rebuild()

    def cancel_scan(self) -> None:
        """Stop the running scan (images found so far stay open) and drop queued scans."""
        self.scan.cancel()

    def _on_scan_finished(self) -> None:
        self.session_view.scan_finished()
        self.sr_findings.scan_finished()
        self._update_position_label()
        self.scan_finished.emit()

    def _on_state_images_added(self, instances: list[Instance]) -> None:
        self.detection_ui.images_added(instances)
        self.loader.images_added()  # the first image decodes before any thumbnail
        self.scan.add_thumbnails(instances)
        self._update_position_label()
        self.display.update_overlays()  # "image i / n" grows while the scan runs

    def close_all(self) -> None:
        self.scan.cancel()
        self.scan.clear_thumbnails()
        self.cache.clear()
        self.problems.clear()
        self.display.clear()
        self.loader.clear()
        self.scan_status.clear()
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
            self.display.clear()
            self.review.image_shown()
            self.setWindowTitle("PneumoView")
            return
        self.metadata.set_dataset(inst.header, inst.path)
        self.frame_control.set_frames(inst.n_frames)
        name = format_name(str(inst.header.get("PatientName", "") or "")) or "(no name)"
        self.setWindowTitle(f"{inst.name} \u2014 {name} \u2014 PneumoView")
        self.loader.request(inst, 0)

    def _on_state_frame_changed(self, frame: int) -> None:
        if self.state.current is not None:
            self.frame_control.set_frame(frame)
            self.loader.request(self.state.current, frame)

    def _on_load_failed(self, inst: Instance, reason: str) -> None:
        self.display.clear(f"Cannot display {inst.name}\n{reason}")
        self.statusBar().showMessage(f"{inst.name}: {reason}")

    def _on_painted(self, inst: Instance) -> None:
        self.loader.image_painted()
        self.image_shown.emit(inst)

    def _on_escape(self) -> None:
        if self.scan.is_scanning:
            self.scan.cancel()
        else:
            self.display.set_tool("pan")

    def show_shortcuts(self) -> None:
        dialog = dialogs.ShortcutsDialog(self.actions_made.actions, self)
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

    def _show_legend(self, html: str) -> None:
        """The box layers' legend, with the SR layer's entry once an SR is open."""
        sr = self.sr_findings.legend()
        self.detection_panel.set_legend(f"{html}&nbsp;&nbsp; {sr}" if sr else html)

    # -- shutdown ---------------------------------------------------------------------------

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.loader.shutdown()  # results still arriving are dropped, the prefetch stopped
        self.scan.shutdown()  # stops the scan and thumbnail workers
        self.sr_findings.shutdown()
        self.pacs.shutdown()  # a retrieve or send stops between two files
        self.frame_control.stop()
        self.canvas.clear_rulers()
        self.detection.shutdown()
        self.session_view.flush()
        self.review.close()
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
