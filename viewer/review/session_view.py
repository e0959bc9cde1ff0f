"""What the reader had on screen, kept in the session file and brought back on reopen.

The review (boxes, decisions, statuses) is written through by
:class:`detector.review.ReviewState`; this module keeps the rest of the reading in the
session's ``view_state`` table (:meth:`detector.review.store.SessionStore.write_view_state`):

``model``
    the checkpoint that was loaded (loaded again; a missing file is one status-bar line);
``threshold``
    the confidence threshold (applied after the model's own default, which would hide
    proposals the reader had chosen to see);
``image``
    the image on screen (shown again as soon as the scan finds it);
``compare``, ``iou``
    compare mode and its IoU;
``worklist_order``
    the worklist's order, ``image`` (load order) or ``informative`` (most informative first).

A session without a remembered image (a folder opened for the first time, e.g. the demo)
starts on the first image that has a box (ground truth or a finding) instead of the first
file. The undo history is not kept: after a restart Ctrl+Z starts empty.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore

from detector.files.scan import Instance
from detector.review import SessionError
from detector.review.worklist import ORDERS
from viewer.detection.controller import DetectionController
from viewer.review.controller import ReviewController
from viewer.state import ViewerState

logger = logging.getLogger(__name__)


def parse_fraction(text: str | None, low: float, high: float) -> float | None:
    """``text`` as a number in ``[low, high]``; ``None`` for anything else (untrusted file)."""
    try:
        value = float(text) if text is not None else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) and low <= value <= high else None


class SessionView(QtCore.QObject):
    """Writes the reading's view state to the session and restores it when a session opens.

    Parameters
    ----------
    state : ViewerState
        The open images and the one on screen.
    review : ReviewController
        The session (``store``, ``session_changed``) and compare mode.
    detection : DetectionController
        The model and the confidence threshold.
    message : callable
        ``message(text, ms)``: a status-bar line.
    show_iou : callable, optional
        Shows a restored IoU in the widget that edits it (the Findings panel's spin box).
    show_problem : callable, optional
        Shows a lasting line where the model is described (the Detection dock), e.g. that
        the session's model file is gone; the status-bar line may be replaced by the scan's.
    parent : QObject, optional
    show_order : callable, optional
        Shows a restored worklist order (the Worklist panel's ``set_order``); a session
        without one (or with an unknown value) keeps the order on screen.
    """

    def __init__(
        self,
        state: ViewerState,
        review: ReviewController,
        detection: DetectionController,
        message: Callable[[str, int], None],
        show_iou: Callable[[float], None] | None = None,
        show_problem: Callable[[str], None] | None = None,
        parent: QtCore.QObject | None = None,
        *,
        show_order: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.review = review
        self.detection = detection
        self.message = message
        self.show_iou = show_iou
        self.show_problem = show_problem
        self.show_order = show_order
        self._pending_image: str | None = None
        self._start_pending = False
        self._pending_threshold: float | None = None
        self._pending_model = ""
        self._moving = False
        self._last_current: Instance | None = None
        self._saved_compare: tuple[bool, float] | None = None
        # A slider drag sends dozens of values: the last one is written (each write syncs).
        self._threshold_timer = QtCore.QTimer(self)
        self._threshold_timer.setSingleShot(True)
        self._threshold_timer.setInterval(250)
        self._threshold_timer.timeout.connect(self._write_threshold)
        review.session_changed.connect(self._on_review_session_changed)
        review.changed.connect(self._on_review_changed)
        detection.model_ready.connect(self._on_detection_model_ready)
        detection.threshold_changed.connect(self._on_detection_threshold_changed)
        detection.failed.connect(self._on_detection_failed)
        state.images_added.connect(self._on_state_images_added)
        state.current_changed.connect(self._on_state_current_changed)

    # -- writing ----------------------------------------------------------------------------

    def _write(self, **values: str) -> None:
        store = self.review.store
        if store is None:
            return
        try:
            store.write_view_state(values)
        except SessionError as exc:
            logger.warning("view state not saved: %s", exc)

    def _on_detection_model_ready(self, _meta: dict, _device: str) -> None:
        path = self.detection.model_path
        if self._pending_threshold is not None:
            if path == self._pending_model:
                # After the model's own default threshold (set right after this signal).
                QtCore.QTimer.singleShot(0, self._apply_pending_threshold)
                return
            self._pending_threshold = None  # another model was chosen: its default applies
        if os.path.isfile(path):
            self._write(model=path)

    def _apply_pending_threshold(self) -> None:
        value, self._pending_threshold = self._pending_threshold, None
        if value is not None:
            self.detection.set_threshold(value)
        self._write(model=self.detection.model_path, threshold=f"{self.detection.threshold:.4f}")

    def _on_detection_threshold_changed(self, _value: float) -> None:
        if self._pending_threshold is None:
            self._threshold_timer.start()

    def _write_threshold(self) -> None:
        self._write(threshold=f"{self.detection.threshold:.4f}")

    def flush(self) -> None:
        """Write what is still waiting (the window is closing, or the session changes)."""
        if self._threshold_timer.isActive():
            self._threshold_timer.stop()
            self._write_threshold()

    def write_order(self, order: str) -> None:
        """Keep the worklist's order (one of :data:`detector.review.worklist.ORDERS`)."""
        if order in ORDERS:
            self._write(worklist_order=order)

    def _on_detection_failed(self, _text: str) -> None:
        self._pending_threshold = None

    def _on_review_changed(self) -> None:
        now = (bool(self.review.compare), float(self.review.iou_threshold))
        if now != self._saved_compare and self.review.store is not None:
            self._saved_compare = now
            self._write(compare="1" if now[0] else "0", iou=f"{now[1]:.4f}")

    def _on_state_current_changed(self, inst: Instance | None) -> None:
        previous, self._last_current = self._last_current, inst
        if inst is None:
            return
        if previous is not None and not self._moving:
            self._start_pending = False  # the reader chose an image: no jump after that
        self._write(image=self.review.key_of(inst))

    def scan_finished(self) -> None:
        """The scan ended: an image still not found is not jumped to later."""
        self._start_pending = False

    # -- restoring --------------------------------------------------------------------------

    def _on_review_session_changed(self, path: str) -> None:
        self._threshold_timer.stop()  # it belonged to the session before
        self._pending_image, self._pending_threshold, self._pending_model = None, None, ""
        self._start_pending = False
        store = self.review.store
        if not path or store is None:
            return
        try:
            saved = store.read_view_state()
        except SessionError as exc:
            self.message(str(exc), 0)
            return
        self._saved_compare = None
        iou = parse_fraction(saved.get("iou"), 0.05, 0.95)
        if saved.get("compare") in ("0", "1"):
            if iou is not None and self.show_iou is not None:
                self.show_iou(iou)
            self.review.set_compare(saved["compare"] == "1", iou)
        order = saved.get("worklist_order")
        if self.show_order is not None and order in ORDERS:
            self.show_order(order)
        threshold = parse_fraction(saved.get("threshold"), 0.0, 1.0)
        self._restore_model(saved.get("model", ""), threshold)
        self._pending_image = saved.get("image") or None
        self._start_pending = True
        self._go_to_start()

    def _restore_model(self, model: str, threshold: float | None) -> None:
        det = self.detection
        if model and not det.has_model:
            if os.path.isfile(model):
                self._pending_model = os.path.abspath(model)
                self._pending_threshold = threshold
                det.load_model(model)
                return
            text = (
                f"The session's model {Path(model).name} is missing ({model}): boxes and "
                "decisions are kept; load a model with Detection \u2192 Load model..."
            )
            self.message(text, 0)
            if self.show_problem is not None:
                self.show_problem(text)
        other_model = det.has_model and det.model_path != os.path.abspath(model or det.model_path)
        if threshold is not None and not other_model:  # another model keeps its own default
            det.set_threshold(threshold)

    def _on_state_images_added(self, _instances: list[Instance]) -> None:
        self._go_to_start()

    def _go_to_start(self) -> None:
        """Show the remembered image, or (none remembered) the first image with a box."""
        if not self._start_pending:
            return
        target = None
        for inst in self.state.images():
            key = self.review.key_of(inst)
            if self._pending_image is not None:
                if key == self._pending_image:
                    target = inst
                    break
            elif self.review.review.boxes(key, active=True):
                target = inst
                break
        if target is None:
            return
        self._start_pending = False
        if target is not self.state.current:
            self._moving = True
            try:
                self.state.set_current(target)
            finally:
                self._moving = False
