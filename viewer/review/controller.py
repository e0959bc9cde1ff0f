"""The review workflow in the window: the review model, its session file and the box editing.

:class:`ReviewController` connects the Qt-free :class:`detector.review.ReviewState` (boxes,
statuses, undo history; written through to the session file) to the widgets:

- open images are registered in the review under their session key
  (:func:`detector.files.identity.image_key`) and RSNA patientId;
- detector results (``DetectionController.result_ready``) become that image's predictions;
- the canvas's :class:`viewer.canvas.box_layers.BoxLayers`, the findings table and the worklist only
  *observe* the model (its psygnal events) and render; every edit goes through a
  ``ReviewState`` method, so it is one undo step and one transaction in the session file.

The keyboard contract (see README) is :mod:`viewer.review.box_keys`; it edits through
:meth:`ReviewController.edit`. Boxes rejected or deleted on the image on screen stay drawn,
struck through, until the image is left (:attr:`ReviewController.struck`).
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6 import QtCore

from detector.files.identity import patient_id_for
from detector.files.scan import Instance, Problem
from detector.review import (
    BoxKind,
    BoxStatus,
    ImageStatus,
    ModelInfo,
    ReviewBox,
    ReviewError,
    ReviewState,
    SessionError,
    SessionLockedError,
    SessionReadOnlyError,
    SessionStore,
    default_session_path,
    open_session,
)
from detector.review.comparing import comparison_marks
from detector.review.worklist import WorklistRow, WorklistView, next_unreviewed, worklist_rows
from viewer.canvas.box_layers import GROUND_TRUTH, PREDICTION, REVIEWER, BoxLayers, BoxView
from viewer.canvas.image_canvas import ImageCanvas
from viewer.detection.controller import DetectionController
from viewer.panels.study_browser import StudyBrowser
from viewer.review.keys import STATUS_MARKS, STATUS_TEXT, key_for
from viewer.review.label_import import apply_import
from viewer.review.session_files import ask_read_only, copy_review
from viewer.state import ViewerState

logger = logging.getLogger(__name__)
_ELSEWHERE = "File > Review session... saves them in a new file"


class ReviewController(QtCore.QObject):
    """The review model of the open images, drawn on the canvas and edited with the keyboard.

    Signals
    -------
    changed()
        Something the side panels show changed (boxes of the current image, statuses).
    session_changed(str)
        Another session file is in use (its path; ``""`` for an unsaved in-memory review).
    message(str)
        A one-line message for the status bar.
    compare_changed(bool)
        The GT-vs-prediction comparison was switched on or off.
    """

    changed = QtCore.Signal()
    compare_changed = QtCore.Signal(bool)
    session_changed = QtCore.Signal(str)
    message = QtCore.Signal(str)

    def __init__(
        self,
        state: ViewerState,
        canvas: ImageCanvas,
        detection: DetectionController,
        browser: StudyBrowser,
        parent: QtCore.QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.canvas = canvas
        self.detection = detection
        self.browser = browser
        self.layers = BoxLayers(canvas.image_item, self)
        self.review = ReviewState()
        self.store: SessionStore | None = None
        self.session_path = ""
        #: Asked (with the reason) whether a session that cannot be written (another
        #: PneumoView has it, or it is read-only) is opened read-only; a dialog by default.
        self.confirm_read_only: Callable[[str], bool] = functools.partial(ask_read_only, canvas)
        #: Edits in the window that the session file lacks (read-only, a failed write).
        self._unsaved = False
        self.compare = False
        self.iou_threshold = 0.5
        self.worklist = WorklistView()  # the Worklist panel's sort and filter; Space follows it
        self._instances: dict[str, Instance] = {}
        self._shown_key: str | None = None
        self._shown_since = time.monotonic()
        #: Boxes rejected or deleted while their image is on screen (drawn struck through).
        self.struck: dict[str, None] = {}
        self._connect_review()
        state.images_added.connect(self._on_images_added)
        state.cleared.connect(self._on_cleared)
        canvas.box_drawn.connect(self._on_box_drawn)
        self.layers.edited.connect(self._on_box_edited)
        self.layers.selected.connect(lambda _i: self.changed.emit())
        detection.result_ready.connect(self._on_detection_result)
        detection.model_ready.connect(self._on_model_ready)
        detection.threshold_changed.connect(lambda _v: self.refresh())

    # -- session ----------------------------------------------------------------------------

    def _connect_review(self) -> None:
        ev = self.review.events
        ev.box_added.connect(self._on_box_event)
        ev.box_removed.connect(self._on_box_event)
        ev.box_changed.connect(self._on_box_changed)
        ev.image_changed.connect(self._on_image_changed)
        ev.image_added.connect(self._on_image_changed)

    def open_session(self, path: str | os.PathLike[str]) -> bool:
        """Use the session file at ``path`` (created when missing); open images are added.

        A file that is not a usable session is reported (``message``) and nothing changes. One
        that cannot be written (open in another PneumoView, read-only) is offered read-only
        (:attr:`confirm_read_only`); its edits stay in the window. While edits are unsaved
        (read-only, a failed write), a new ``path`` receives this window's review instead.
        """
        path = os.path.abspath(os.fspath(path))
        if self.store is not None and path == self.session_path:
            return True
        if self._unsaved and not (os.path.exists(path) and os.path.getsize(path)):
            return self._save_session_as(path)
        try:
            review, store = open_session(path)
        except (SessionLockedError, SessionReadOnlyError) as exc:
            if not self.confirm_read_only(str(exc)):
                self.message.emit(f"{exc}; not opened")
                return False
            try:
                review, store = open_session(path, read_only=True)
            except SessionError as again:
                self.message.emit(str(again))
                return False
        except SessionError as exc:
            self.message.emit(str(exc))
            return False
        self._flush_time()
        self._attach(store, path, review)
        self._connect_review()
        for inst in self.state.images():
            self._register(inst)
        if self.detection.meta is not None:
            self._on_model_ready(self.detection.meta, self.detection.device)
        self.refresh()
        self._update_browser_marks()
        name = Path(path).name
        if store.read_only:
            self.message.emit(f"{name}: opened read-only, edits are not saved ({_ELSEWHERE})")
        elif store.quarantined:
            self.state.add_problems([Problem(path, line) for line in store.quarantined])
            self.message.emit(f"{name}: {len(store.quarantined)} unreadable box(es) left out")
        return True

    def _save_session_as(self, path: str) -> bool:
        """Write the window's review (unsaved edits included) to a new file and use that."""
        try:
            store = copy_review(self.review, path)
        except SessionError as exc:
            self.message.emit(f"Review session not saved: {exc}")
            return False
        self._attach(store, path, self.review)
        self.review.writer = store
        self.message.emit(f"Review saved to {path}; edits are saved there from now on")
        return True

    def _attach(self, store: SessionStore, path: str, review: ReviewState) -> None:
        if self.store is not None:
            self.store.close()
        store.on_error = self._on_write_failed
        self._unsaved = store.read_only  # said once, when it opens
        self.review, self.store, self.session_path = review, store, path
        self.session_changed.emit(path)

    def _on_write_failed(self, err: SessionError) -> None:
        """Every failed session write (the store's one guarded path): one status-bar line."""
        said, self._unsaved = self._unsaved, True
        if self.store is not None and self.store.read_only and said:
            return  # said once when it opened
        logger.warning("session write failed: %s", err)
        self.message.emit(f"Review session not written: {err}; kept in this window ({_ELSEWHERE})")

    def ensure_session(self, opened: Sequence[str]) -> None:
        """Without a session yet, open the default one of the first opened folder.

        The window does not call this in ``--screenshot`` runs: they write nothing, so their
        review stays in memory.
        """
        if self.store is not None or not opened:
            return
        first = os.path.abspath(opened[0])
        folder = first if os.path.isdir(first) else os.path.dirname(first)
        self.open_session(default_session_path(folder))

    def close(self) -> None:
        """Window closing: time on the image is saved, the session file closed."""
        self.layers.clear()  # pyqtgraph gives each ROI handle a parentless menu
        self._flush_time()
        if self.store is not None:
            self.store.close()
            self.store = None

    # -- files ------------------------------------------------------------------------------

    def import_labels(self, path: str, classes: str | None = None) -> str:
        """Import ground truth from an RSNA labels CSV (and a class CSV) here and now; returns
        the summary (:func:`viewer.review.label_import.apply_import`; the File menu reads the
        CSV in a worker instead, :class:`viewer.review.label_import.LabelImport`)."""
        return apply_import(self, path, classes)

    def export(self, path: str, fmt: str) -> str:
        """Write an export (labels / audit / submission at the current threshold) atomically."""
        from detector.errors import PneumoViewError
        from detector.review.export import export_note, export_review

        thr, iou = (self.threshold if fmt == "submission" else None), self.iou_threshold
        try:
            rows = export_review(self.review, path, fmt, threshold=thr, iou_threshold=iou)
        except (PneumoViewError, ValueError) as exc:  # the output, or a bad format
            self.message.emit(str(exc))
            return str(exc)
        note = export_note(self.review, fmt, threshold=thr, iou_threshold=iou)
        text = f"Exported {rows} row(s) ({fmt}) to {path}; {note}"
        self.message.emit(text)
        return text

    # -- images -----------------------------------------------------------------------------

    def _register(self, inst: Instance, frame: int = 0) -> str:
        key = key_for(inst, frame)
        self._instances[key] = inst
        self._edit(
            functools.partial(
                self.review.add_image,
                key,
                patient_id_for(inst.path, frame),
                path=inst.path,
                sop_instance_uid=inst.sop_instance_uid,
                frame=frame,
            )
        )
        return key

    def _on_images_added(self, instances: list[Instance]) -> None:
        for inst in instances:
            image = self.review.images.get(self._register(inst))
            if image is not None and image.status is not ImageStatus.UNREVIEWED:
                # Restored from the session: the browser shows the mark it had before.
                self._mark_in_browser(inst, image.status)
        self.changed.emit()

    def _on_cleared(self) -> None:
        """Close all: the session file is closed; the next opened folder gets its own."""
        self._flush_time()
        self._instances.clear()
        self._shown_key = None
        self.struck.clear()
        self.layers.clear()
        if self.store is not None:
            self.store.close()
            self.store, self.session_path, self._unsaved = None, "", False
            self.review = ReviewState()
            self._connect_review()
            self.session_changed.emit("")
        self.changed.emit()

    @staticmethod
    def key_of(inst: Instance, frame: int = 0) -> str:
        return key_for(inst, frame)

    def instance_for(self, key: str) -> Instance | None:
        return self._instances.get(key)

    @property
    def current_key(self) -> str | None:
        inst = self.state.current
        if inst is None:
            return None
        key = key_for(inst, self.state.frame)
        if key not in self._instances:
            self._register(inst, self.state.frame)
        return key

    def shown_key(self) -> str | None:
        """Review key of the image drawn on the canvas (``None`` while nothing is drawn)."""
        return self.current_key if self.canvas.has_image else None

    def image_shown(self) -> None:
        """The canvas shows another image or frame: draw its boxes, count time on the last."""
        key = self.current_key
        if key != self._shown_key:
            self._flush_time()
            self._shown_key = key
            self.struck.clear()
            self.layers.select(None)
        self.refresh()

    def _flush_time(self) -> None:
        now = time.monotonic()
        key, self._shown_key = self._shown_key, None
        seconds, self._shown_since = now - self._shown_since, now
        if key is not None and key in self.review.images:
            try:
                self.review.add_seconds(key, min(seconds, 3600.0))
            except (ReviewError, SessionError, OSError) as exc:
                logger.warning("time on image not saved: %s", exc)

    # -- detector results -------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        return Path(self.detection.model_path).name or "model"

    def _on_model_ready(self, meta: dict, _device: str) -> None:
        det = self.detection
        self._edit(
            self.review.add_model,
            ModelInfo(
                self.model_name, det.model_path, float(meta.get("threshold", 0.5)), dict(meta)
            ),
        )
        self.refresh()  # the previous model's proposals are superseded (ReviewState.current_model)

    def has_predictions(self, key: str) -> bool:
        """The current model already ran on this image in this session."""
        image = self.review.images.get(key)
        return image is not None and self.model_name in image.predicted_by

    def _on_detection_result(self, key: str, result: Any) -> None:
        if getattr(result, "error", None) or key not in self.review.images:
            return
        detections = [(d.box_xyxy, d.score) for d in result.detections]
        valid = [(b, s) for b, s in detections if b[2] > b[0] and b[3] > b[1]]
        self._edit(self.review.set_predictions, key, self.model_name, valid)

    # -- drawing ----------------------------------------------------------------------------

    @property
    def threshold(self) -> float:
        return self.detection.threshold

    def visible_predictions(self, key: str) -> list[ReviewBox]:
        return [b for b in self.proposals(key) if b.score is None or b.score >= self.threshold]

    def proposals(self, key: str) -> list[ReviewBox]:
        """The current model's undecided predictions on an image (any score)."""
        return [
            b
            for b in self.review.boxes(key, kind=BoxKind.PREDICTION, status=BoxStatus.PROPOSED)
            if not self.review.superseded(b)
        ]

    def prediction_counts(self, key: str) -> tuple[int, int]:
        """(shown at the threshold, all) proposed predictions of an image."""
        return len(self.visible_predictions(key)), len(self.proposals(key))

    def rsna_score(self, key: str) -> float | None:
        return self.review.rsna_score(key, threshold=self.threshold)

    def views(self, key: str) -> list[BoxView]:
        truth = self.review.boxes(key, kind=BoxKind.GROUND_TRUTH, active=True)
        preds = self.visible_predictions(key)
        reviewer = self.review.boxes(key, kind=BoxKind.REVIEWER, active=True)
        marks: dict[str, str] = {}
        if self.compare:
            # The model's boxes as the RSNA score sees them: proposed, accepted or edited.
            model_boxes = self.review.model_boxes(key, self.threshold)
            marks = comparison_marks(truth, model_boxes, self.iou_threshold)
        # Drawing (and Tab) order: predictions first, the reader's boxes, then ground truth.
        out = []
        for box in preds:
            caption = f"{box.score:.2f}" if box.score is not None else ""
            if box.id in marks:
                caption = f"{caption} {marks[box.id]}".strip()
            out.append(BoxView(box.id, PREDICTION, box.xyxy, caption))
        for box in reviewer:
            caption = f"{box.score:.2f}" if box.score is not None else ""
            if box.id in marks:
                caption = f"{caption} {marks[box.id]}".strip()
            out.append(BoxView(box.id, REVIEWER, box.xyxy, caption))
        for box in truth:
            mark = marks.get(box.id, "")
            out.append(BoxView(box.id, GROUND_TRUTH, box.xyxy, mark, dashed=mark == "missed"))
        return out + self._struck_views(key)

    def _struck_views(self, key: str) -> list[BoxView]:
        """The boxes removed on this image since it was shown, drawn struck through."""
        kinds = {BoxKind.GROUND_TRUTH: GROUND_TRUTH, BoxKind.PREDICTION: PREDICTION}
        out = []
        for box in self.review.boxes(key, active=False) if key == self._shown_key else ():
            if box.id in self.struck:
                caption = "rejected" if box.kind is BoxKind.PREDICTION else "removed"
                kind = kinds.get(box.kind, REVIEWER)
                out.append(BoxView(box.id, kind, box.xyxy, caption, editable=False, struck=True))
        return out

    def refresh(self) -> None:
        key = self.shown_key()
        self.layers.show_boxes(self.views(key) if key is not None else ())
        self.changed.emit()

    def _on_box_changed(self, old: ReviewBox, new: ReviewBox) -> None:
        if new.image == self._shown_key and old.active and not new.active:
            self.struck[new.id] = None
        self._on_box_event(new)

    def _on_box_event(self, box: ReviewBox) -> None:
        if box.image == self._shown_key:
            self.refresh()

    def _on_image_changed(self, image: Any) -> None:
        inst = self._instances.get(image.key)
        if inst is not None:
            self._mark_in_browser(inst, image.status)
        self.changed.emit()

    def _mark_in_browser(self, inst: Instance, status: ImageStatus) -> None:
        state = self.state
        state.set_reviewed(inst, status in (ImageStatus.REVIEWED, ImageStatus.NO_OPACITY))
        item = self.browser.item_for(inst)
        if item is not None:
            item.setText(1, STATUS_MARKS[status])
            item.setToolTip(1, STATUS_TEXT[status])

    def _update_browser_marks(self) -> None:
        for key, inst in self._instances.items():
            image = self.review.images.get(key)
            if image is not None and image.frame == 0:
                self._mark_in_browser(inst, image.status)

    def set_compare(self, on: bool, iou_threshold: float | None = None) -> None:
        """Mark matched / missed / false-positive boxes at ``iou_threshold`` (or stop)."""
        switched = bool(on) != self.compare
        self.compare = bool(on)
        if iou_threshold is not None:
            self.iou_threshold = float(iou_threshold)
        if switched:
            self.compare_changed.emit(self.compare)
        self.refresh()

    # -- edits (the keyboard contract) ------------------------------------------------------

    def edit(self, action: Any, *args: Any) -> Any:
        """Run one edit of the review (a ``ReviewState`` method); ``None`` when refused."""
        return self._edit(action, *args)

    def _edit(self, action: Any, *args: Any) -> Any:
        """Run one model edit; a refused one (or a failing session file) goes to the status bar."""
        try:
            return action(*args)
        except ReviewError as exc:
            self.message.emit(str(exc))
        except (SessionError, OSError) as exc:
            self.message.emit(f"Review session not written: {exc}")
        return None

    def selected_box(self) -> ReviewBox | None:
        box_id = self.layers.selected_id
        if box_id is None:
            return None
        try:
            return self.review.box(box_id)
        except ReviewError:
            return None

    def start_drawing(self) -> None:
        """**B**: the next left-drag on the image draws a reviewer box."""
        if self.canvas.has_image:
            self.canvas.set_tool("box")
            self.message.emit("Draw a box: left-drag on the image")

    def _on_box_drawn(self, xyxy: tuple) -> None:
        key = self.current_key
        if key is None:
            return
        box = self._edit(self.review.add_box, key, xyxy)
        if box is not None:
            self.layers.select(box.id)

    def _on_box_edited(self, box_id: str, xyxy: tuple) -> None:
        self._edit(self.review.move, box_id, xyxy)

    def move_box(self, box_id: str, xyxy: Sequence[float]) -> None:
        """Move/resize a box to ``xyxy`` (the findings table's edits; one undo step)."""
        self._edit(self.review.move, box_id, tuple(xyxy))

    def mark_reviewed_and_next(self) -> None:
        """**Space**: mark the image reviewed and go to the next unreviewed one."""
        key = self.current_key
        if key is None:
            return
        if self.review.image(key).status is not ImageStatus.NO_OPACITY:
            self._edit(self.review.mark_reviewed, key)
        target = self.next_unreviewed()
        if target is None:
            done, total = self.review_progress()
            left = f"No unreviewed image left in the worklist ({self.worklist.filter})"
            self.message.emit(f"All {total} images reviewed" if done == total else left)
            return
        self.state.set_current(target)

    def toggle_reviewed(self) -> None:
        """Ctrl+R: mark the image reviewed, or take the mark back."""
        key = self.current_key
        if key is None:
            return
        status = self.review.image(key).status
        if status not in (ImageStatus.REVIEWED, ImageStatus.NO_OPACITY):
            self._edit(self.review.set_image_status, key, ImageStatus.REVIEWED)
            return
        # Unmarked: "in progress" when the reader already decided something on it.
        touched = any(b.status is not BoxStatus.PROPOSED for b in self.review.boxes(key))
        back = ImageStatus.IN_PROGRESS if touched else ImageStatus.UNREVIEWED
        self._edit(self.review.set_image_status, key, back)

    def next_unreviewed(self) -> Instance | None:
        """The next unreviewed image in the worklist's sort and filter (wrapping)."""
        current = key_for(self.state.current) if self.state.current is not None else None
        key = next_unreviewed(self.worklist_rows(), current)
        return None if key is None else self._instances.get(key)

    def worklist_rows(self, view: WorklistView | None = None) -> list[WorklistRow]:
        """The open images as the worklist (or ``view``) lists them (the image on screen too)."""
        keys = [key_for(inst) for inst in self.state.images()]
        rows = worklist_rows(
            self.review, keys, threshold=self.threshold, iou_threshold=self.iou_threshold
        )
        keep = key_for(self.state.current) if self.state.current is not None else None
        return (view or self.worklist).arrange(rows, keep=keep)

    def review_progress(self) -> tuple[int, int]:
        """(reviewed, total) over the open images (first frames)."""
        done = total = 0
        for key in self._instances:
            image = self.review.images.get(key)
            if image is None or image.frame != 0:
                continue
            total += 1
            done += image.status in (ImageStatus.REVIEWED, ImageStatus.NO_OPACITY)
        return done, total
