"""The detector in the window: the Detection dock, its actions (D, Shift+D) and their wiring.

:class:`DetectionUI` connects the open images (:class:`viewer.state.ViewerState`), the
preferences and the review's prediction counts to
:class:`viewer.detection.controller.DetectionController` (the model and its background worker)
and to the passive :class:`viewer.detection.dock.DetectionDock`. Results go to the review
(``ReviewController`` listens to the controller's ``result_ready``); status-bar lines leave
through the ``message`` signal.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from PySide6 import QtCore, QtGui, QtWidgets

from detector.files.scan import Instance
from viewer.detection.controller import DetectionController
from viewer.detection.dock import DetectionDock
from viewer.detection.improve_panel import ImproveUI
from viewer.detection.worker import DetectionJob
from viewer.platform.settings import AppSettings
from viewer.review.keys import key_for
from viewer.state import ViewerState


class PredictionSource(Protocol):
    """What the dock needs of the review: which images have predictions, and how many."""

    @property
    def current_key(self) -> str | None: ...
    def shown_key(self) -> str | None: ...
    def has_predictions(self, key: str) -> bool: ...
    def prediction_counts(self, key: str) -> tuple[int, int]: ...


class DetectionUI(QtCore.QObject):
    """The Detection dock and actions of one window.

    Parameters
    ----------
    controller : DetectionController
        The model and its worker.
    state : ViewerState
        The open images and the one on screen.
    prefs : AppSettings
        "Detect automatically on open".
    review : PredictionSource
        The review's predictions (the owner calls :meth:`show_counts` when it changes).
    parent : QWidget
        Owner of the dock and the dialogs (the owner adds :attr:`dock` to its window).

    Signals
    -------
    message(str, int)
        A status-bar line and how long it shows (ms; 0: until replaced).
    """

    message = QtCore.Signal(str, int)

    def __init__(
        self,
        controller: DetectionController,
        state: ViewerState,
        prefs: AppSettings,
        review: PredictionSource,
        parent: QtWidgets.QWidget,
    ) -> None:
        super().__init__(parent)
        self.parent_widget = parent
        self.state = state
        self.prefs = prefs
        self.review = review
        self.controller = controller
        self._progress = (0, 0)
        self.panel = DetectionDock()
        self.panel.auto_check.setChecked(prefs.auto_detect)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        scroll.setWidget(self.panel)  # the window may be short; the dock scrolls
        self.dock = QtWidgets.QDockWidget("Detection", parent)
        self.dock.setObjectName("detection_dock")
        self.dock.setWidget(scroll)
        self.dock.setAllowedAreas(QtCore.Qt.DockWidgetArea.AllDockWidgetAreas)
        #: The open session file ("" without one); the window sets it.
        self.session_path: Callable[[], str] = lambda: ""
        self.improve = ImproveUI(
            lambda: self.session_path(),
            lambda: self.controller.model_path or "",
            self.controller.load_model,
            parent,
        )
        self.improve.message.connect(self.message)
        layout = self.panel.layout()
        assert layout is not None
        layout.addWidget(self.improve.panel)

    def build_actions(self, add: Callable[..., QtGui.QAction]) -> None:
        """Create the actions with the window's action factory (so Help lists them, in the
        window's order) and wire the controller and the dock to them."""
        self.act_load_model = add("&Load model...", self.load_model_dialog)
        self.act_detect = add("&Run on this image", self.detect_current, ["D"])
        self.act_detect_all = add("Run on &all open images", self.detect_all, ["Shift+D"])
        self.act_detect_cancel = add("&Cancel detection", self.controller.cancel)
        self.act_detect_cancel.setEnabled(False)
        self.act_improve = add("&Improve model...", self.improve.start, ["Ctrl+I"])
        self.act_load_model.setIconText("Load model...")
        self.act_detect.setIconText("Run (D)")
        self.act_detect_all.setIconText("Run all (Shift+D)")
        self.act_detect_cancel.setIconText("Cancel")
        self.panel.set_actions(
            self.act_load_model, self.act_detect, self.act_detect_all, self.act_detect_cancel
        )
        self._connect()

    def fill_menu(self, menu: QtWidgets.QMenu) -> None:
        menu.addActions(
            [
                self.act_load_model,
                self.act_detect,
                self.act_detect_all,
                self.act_detect_cancel,
                self.act_improve,
            ]
        )

    def _connect(self) -> None:
        det, panel = self.controller, self.panel
        det.model_loading.connect(self._on_model_loading)
        det.model_ready.connect(self._on_model_ready)
        det.result_ready.connect(self._on_result)
        det.progress.connect(self._on_progress)
        det.run_finished.connect(self._on_finished)
        det.failed.connect(self._on_failed)
        det.notice.connect(lambda text: self.message.emit(text, 10_000))
        det.threshold_changed.connect(panel.set_threshold)
        det.threshold_changed.connect(lambda _v: self.show_counts())
        panel.threshold_changed.connect(det.set_threshold)
        panel.auto_detect_toggled.connect(self._on_auto_detect_toggled)

    # -- running ----------------------------------------------------------------------------

    def jobs_for(self, instances: Sequence[Instance]) -> list[DetectionJob]:
        """Jobs for first frames, except images this model already ran on in this session."""
        jobs = [DetectionJob(key_for(i), i.path, 0) for i in instances]
        return [j for j in jobs if not self.review.has_predictions(j.key)]

    def images_added(self, instances: Sequence[Instance]) -> None:
        """ "Detect automatically on open"."""
        if self.prefs.auto_detect and self.controller.has_model:
            self.controller.run(self.jobs_for(instances))

    def model_folder(self) -> str:
        """Where Load model starts: the loaded model's folder, else the shipped models."""
        from viewer.platform.user_folders import models_dir

        current = self.controller.model_path
        if current and os.path.isfile(current):
            return os.path.dirname(current)
        return str(models_dir())

    def load_model_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self.parent_widget,
            "Load detector checkpoint",
            self.model_folder(),
            "Checkpoints (*.pt *.pth)",
        )
        if path:
            self.controller.load_model(path)

    def _ensure_model(self) -> bool:
        """Without a model, the shipped default for the open images is loaded."""
        if self.controller.has_model:
            return True
        from viewer.platform.user_folders import default_model_path

        default = default_model_path([inst.path for inst in self.state.images()[:16]])
        if default is None:
            self._on_failed("No model loaded: use Detection \u2192 Load model...")
            return False
        self.controller.load_model(str(default))
        return True

    def detect_current(self) -> None:
        state = self.state
        inst = state.current
        if inst is None or not self._ensure_model():
            return
        frame = state.frame
        self.controller.run([DetectionJob(key_for(inst, frame), inst.path, frame)])

    def detect_all(self) -> None:
        images = self.state.images()
        if images and self._ensure_model():
            self.controller.run(self.jobs_for(images))

    # -- feedback ---------------------------------------------------------------------------

    def _on_model_loading(self, path: str) -> None:
        self.panel.show_loading(Path(path).name)
        self.act_detect_cancel.setEnabled(True)

    def _on_model_ready(self, meta: dict, device: str) -> None:
        self.panel.show_model(meta, self.controller.model_path)
        self.panel.show_device(device)
        self.improve.refresh_versions()
        done, total = self._progress  # "Loading model..." gives way to the run's count
        self.panel.show_progress(done, total if done < total else 0, None)
        name = Path(self.controller.model_path).name
        from detector.model.choice import (
            DEMO_WARNING,
            all_phantoms,
            is_demo_model,
            large_input_warning,
        )

        paths = [inst.path for inst in self.state.images()[:16]]
        large = large_input_warning(meta)
        if is_demo_model(meta) and paths and not all_phantoms(paths):
            self.message.emit(f"Warning: {DEMO_WARNING}", 20_000)
        elif large:
            self.message.emit(f"Warning: {name}: {large}", 20_000)
        else:
            self.message.emit(f"Model {name} ready on {device}", 5000)

    def _on_progress(self, done: int, total: int, rate: float) -> None:
        self._progress = (done, total)
        loading = self.controller.has_model and self.controller.meta is None
        self.panel.show_progress(done, total, rate, loading=loading)
        self.act_detect_cancel.setEnabled(self.controller.busy or done < total)

    def _on_finished(self, cancelled: bool) -> None:
        self.act_detect_cancel.setEnabled(False)
        if cancelled:
            self.message.emit("Detection cancelled; finished images keep their results", 5000)

    def _on_failed(self, text: str) -> None:
        self.act_detect_cancel.setEnabled(False)
        self.panel.show_progress(0, 0, None)
        self.panel.show_model_error(text)
        self.message.emit(f"Detection: {text}", 0)

    def _on_result(self, key: str, result: object) -> None:
        error = getattr(result, "error", None)
        if error:
            self.message.emit(f"Detection: {error}", 8000)
        if key == self.review.current_key:
            self.show_counts()

    def _on_auto_detect_toggled(self, checked: bool) -> None:
        self.prefs.auto_detect = checked

    def show_counts(self) -> None:
        """ "n of m predictions shown" for the image on screen."""
        key = self.review.shown_key()
        shown, total = self.review.prediction_counts(key) if key is not None else (0, 0)
        self.panel.show_counts(shown, total)
