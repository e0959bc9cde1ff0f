"""The review model: images, their boxes and review status, with psygnal events (no Qt).

Every change goes through :meth:`ReviewState._apply`, which (1) writes it through to the
session store in one transaction when one is attached, (2) updates memory, (3) emits events and
(4) records an undo step for user edits. Boxes and images are frozen dataclasses, so a change
is a ``(before, after)`` pair of snapshots and undo/redo simply swap them.

A ``ReviewState`` is used from one thread (the GUI thread); workers hand their results to it
through signals.
"""

from __future__ import annotations

import getpass
import math
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from types import MappingProxyType
from typing import Any, Protocol

from psygnal import Signal, SignalGroup

from detector.files.identity import ImageIdentity
from detector.review.history import History, Step
from detector.review.records import (
    ACTIVE_STATUSES,
    DECIDED_IOU,
    DONE_STATUSES,
    XYXY,
    BoxKind,
    BoxStatus,
    Comparison,
    ImageCounts,
    ImageReview,
    ImageStatus,
    ModelInfo,
    ReviewBox,
    ReviewError,
    as_enum_set,
    check_xyxy,
    either_box,
)
from detector.rsna.matching import box_iou, match_boxes

__all__ = [
    "ACTIVE_STATUSES",
    "DECIDED_IOU",
    "DONE_STATUSES",
    "XYXY",
    "BoxKind",
    "BoxStatus",
    "ChangeWriter",
    "Comparison",
    "ImageCounts",
    "ImageReview",
    "ImageStatus",
    "ModelInfo",
    "ReviewBox",
    "ReviewError",
    "ReviewEvents",
    "ReviewState",
    "check_xyxy",
    "default_reviewer",
]


class ChangeWriter(Protocol):
    """What :class:`ReviewState` needs from a session store (one transaction per call)."""

    def write(
        self,
        boxes: Sequence[tuple[ReviewBox | None, ReviewBox | None]],
        images: Sequence[ImageReview],
        action: str,
        author: str,
    ) -> None: ...

    def write_model(self, model: ModelInfo) -> None: ...

    def write_pending(self, pending: dict[str, list[tuple[XYXY, str]]]) -> None: ...


class ReviewEvents(SignalGroup):
    """psygnal events of :class:`ReviewState` (emitted after the change is stored)."""

    box_added = Signal(ReviewBox)
    box_changed = Signal(ReviewBox, ReviewBox)  # old, new
    box_removed = Signal(ReviewBox)
    image_added = Signal(ImageReview)
    image_changed = Signal(ImageReview)  # status, seconds, edits, class
    predictions_set = Signal(str, str)  # image key, model name
    history_changed = Signal()  # can_undo / can_redo may have changed


def default_reviewer() -> str:
    """The login name (``"reviewer"`` when it cannot be found)."""
    try:
        return getpass.getuser() or "reviewer"
    except (OSError, KeyError):
        return "reviewer"


class ReviewState:
    """All images of a review session, their boxes and statuses (see :mod:`detector.review`).

    Parameters
    ----------
    reviewer : str, optional
        Recorded as the author of every edit (default: the login name).
    writer : ChangeWriter, optional
        Session store every change is written through to before it is applied.
    clock : callable, optional
        Returns the time in Unix seconds (tests pass a fake one).
    history_size : int
        Undo steps kept.
    """

    def __init__(
        self,
        *,
        reviewer: str | None = None,
        writer: ChangeWriter | None = None,
        clock: Callable[[], float] = time.time,
        history_size: int = 500,
    ) -> None:
        self.events = ReviewEvents()
        self.reviewer = reviewer or default_reviewer()
        self.writer = writer
        self.clock = clock
        self.history = History(maxlen=history_size)
        self._images: dict[str, ImageReview] = {}
        self._boxes: dict[str, ReviewBox] = {}
        self._by_image: dict[str, dict[str, None]] = {}  # insertion-ordered box ids
        self._by_patient: dict[str, list[str]] = {}
        self.models: dict[str, ModelInfo] = {}
        #: Ground truth imported for patientIds not open: patientId -> [(xyxy, origin)].
        self.pending_truth: dict[str, list[tuple[XYXY, str]]] = {}

    # -- loading (used by the session store; no events, no writes) ------------------------

    def _load(
        self,
        images: Iterable[ImageReview],
        boxes: Iterable[ReviewBox],
        models: Iterable[ModelInfo],
        pending: dict[str, list[tuple[XYXY, str]]],
    ) -> None:
        for image in images:
            self._put_image(image)
        for box in boxes:
            if box.image in self._images:
                self._put_box(box)
        for model in models:
            self.models[model.name] = model
        self.pending_truth = pending

    # -- queries ---------------------------------------------------------------------------

    @property
    def images(self) -> Mapping[str, ImageReview]:
        """Image key -> :class:`ImageReview`, in the order added (a live read-only view)."""
        return MappingProxyType(self._images)

    def image(self, key: str) -> ImageReview:
        try:
            return self._images[key]
        except KeyError:
            raise ReviewError(f"no image {key!r} in this review") from None

    def keys_for_patient(self, patient_id: str) -> list[str]:
        """Image keys with this RSNA patientId (in the order they were added)."""
        return list(self._by_patient.get(patient_id, ()))

    def box(self, box_id: str) -> ReviewBox:
        try:
            return self._boxes[box_id]
        except KeyError:
            raise ReviewError(f"no box {box_id!r} in this review") from None

    def boxes(
        self,
        image: str | None = None,
        *,
        kind: BoxKind | Iterable[BoxKind] | None = None,
        status: BoxStatus | Iterable[BoxStatus] | None = None,
        active: bool | None = None,
        min_score: float | None = None,
    ) -> list[ReviewBox]:
        """Boxes of one image (or all), filtered; in the order they were created.

        ``min_score`` keeps boxes without a score (ground truth, hand-drawn) and scored boxes
        with ``score >= min_score``.
        """
        kinds = as_enum_set(kind, BoxKind)
        statuses = as_enum_set(status, BoxStatus)
        if image is None:
            ids: Iterable[str] = self._boxes
        else:
            ids = self._by_image.get(image, {})
        out = []
        for box_id in ids:
            box = self._boxes[box_id]
            if kinds is not None and box.kind not in kinds:
                continue
            if statuses is not None and box.status not in statuses:
                continue
            if active is not None and box.active != active:
                continue
            if min_score is not None and box.score is not None and box.score < min_score:
                continue
            out.append(box)
        return out

    @property
    def current_model(self) -> str | None:
        """The model added last (see :meth:`add_model`); ``None`` before any model ran.

        Only its proposals are shown, scored and exported: loading another checkpoint
        supersedes the previous model's undecided proposals (they stay in the session and come
        back when that model is loaded again). Boxes the reader decided on are never affected.
        """
        if not self.models:
            return None
        return max(self.models.values(), key=lambda m: m.added).name

    def superseded(self, box: ReviewBox) -> bool:
        """A prediction of a model other than :attr:`current_model` (not shown or scored)."""
        current = self.current_model
        return box.kind is BoxKind.PREDICTION and current is not None and box.origin != current

    def progress(self) -> tuple[int, int]:
        """``(reviewed, total)`` images (reviewed includes "no opacity")."""
        done = sum(1 for im in self._images.values() if im.status in DONE_STATUSES)
        return done, len(self._images)

    def compare(
        self, image: str, *, threshold: float = 0.0, iou_threshold: float = 0.5
    ) -> Comparison:
        """Ground truth vs predictions on one image: matched, missed, false-positive box ids.

        Predictions and ground truth as in :meth:`rsna_score` (which is included); matching is
        greedy, highest score first, at ``iou_threshold``.
        """
        truth, preds = self._truth_and_predictions(image, threshold)
        pairs = match_boxes(
            [b.xyxy for b in truth], [(b.score or 0.0, b.xyxy) for b in preds], iou_threshold
        )
        used_truth = {t for _p, t in pairs}
        used_preds = {p for p, _t in pairs}
        return Comparison(
            matched=tuple((truth[t].id, preds[p].id) for p, t in pairs),
            missed=tuple(b.id for i, b in enumerate(truth) if i not in used_truth),
            false_positives=tuple(b.id for i, b in enumerate(preds) if i not in used_preds),
            rsna_score=self.rsna_score(image, threshold=threshold),
        )

    def _truth_and_predictions(
        self, image: str, threshold: float
    ) -> tuple[list[ReviewBox], list[ReviewBox]]:
        truth = self.boxes(image, kind=BoxKind.GROUND_TRUTH, active=True)
        return truth, self.model_boxes(image, threshold)

    def model_boxes(self, image: str, threshold: float = 0.0) -> list[ReviewBox]:
        """The model's boxes the RSNA score counts on an image: active (proposed, accepted or
        edited, in their current geometry), scoring at least ``threshold``, and not
        :meth:`superseded` by a later model. Scores, comparisons and the submission export use
        this one rule."""
        self.image(image)
        return [
            b
            for b in self.boxes(image, active=True)
            if b.source == "model"
            and b.score is not None
            and b.score >= threshold
            and not self.superseded(b)
        ]

    def counts(
        self, image: str, *, threshold: float = 0.0, iou_threshold: float = 0.5
    ) -> ImageCounts:
        """Worklist numbers: predictions at ``threshold``, max score, GT/prediction disagreement.

        Disagreement is the number of active ground-truth boxes plus model boxes (score >=
        threshold) left unmatched by a greedy highest-score-first matching at ``iou_threshold``.
        """
        truth, preds = self._truth_and_predictions(image, threshold)
        reviewer = self.boxes(image, kind=BoxKind.REVIEWER, active=True)
        matched = len(
            match_boxes(
                [b.xyxy for b in truth], [(b.score or 0.0, b.xyxy) for b in preds], iou_threshold
            )
        )
        return ImageCounts(
            predictions=len(preds),
            max_score=max((b.score for b in preds if b.score is not None), default=None),
            ground_truth=len(truth),
            reviewer=len(reviewer),
            disagreement=len(truth) + len(preds) - 2 * matched,
        )

    def rsna_score(self, image: str, *, threshold: float = 0.0) -> float | None:
        """The RSNA challenge metric of this image's predictions vs its ground truth.

        Predictions are the model's boxes with ``score >= threshold`` that are not rejected
        (proposed, accepted or edited, in their current geometry); the ground truth is the
        active ground-truth boxes. ``None`` when the image has neither (RSNA skips it).
        """
        from detector.rsna.metrics import rsna_image_score

        truth, preds = self._truth_and_predictions(image, threshold)
        return rsna_image_score([b.xywh for b in truth], [(b.score or 0.0, *b.xywh) for b in preds])

    # -- images ----------------------------------------------------------------------------

    def add_image(
        self,
        key: str,
        patient_id: str,
        *,
        path: str = "",
        sop_instance_uid: str = "",
        frame: int = 0,
    ) -> ImageReview:
        """Register an open image (no-op when already there; its path is updated if moved).

        Ground truth imported earlier for its patientId (:attr:`pending_truth`) is attached.
        """
        ident = ImageIdentity(key, patient_id, path, sop_instance_uid, int(frame))
        return self.add_images([ident])[0]

    def add_images(self, identities: Iterable[ImageIdentity]) -> list[ImageReview]:
        """Register many open images in one transaction (e.g. a whole folder once scanned).

        Takes :class:`detector.files.identity.ImageIdentity` objects; see :meth:`add_image`.
        """
        now = self.clock()
        images: dict[str, ImageReview] = {}
        boxes: list[tuple[ReviewBox | None, ReviewBox | None]] = []
        attached: list[str] = []
        order = []
        for ident in identities:
            order.append(ident.key)
            old = self._images.get(ident.key) or images.get(ident.key)
            if old is not None:
                if ident.path and old.path != ident.path:
                    images[ident.key] = replace(old, path=ident.path)
                continue
            images[ident.key] = ImageReview(
                ident.key, ident.patient_id, ident.path, ident.sop_instance_uid, int(ident.frame)
            )
            pending = self.pending_truth.get(ident.patient_id)
            if pending is not None and ident.patient_id not in attached:
                attached.append(ident.patient_id)
                for xyxy, origin in pending:
                    box = self._new_box(
                        ident.key, BoxKind.GROUND_TRUTH, xyxy, origin=origin, now=now
                    )
                    boxes.append((None, box))
        if images or boxes:
            self._apply(boxes, list(images.values()), "open image", record=False, count_edit=False)
        if attached:
            if self.writer is not None:
                self.writer.write_pending({pid: [] for pid in attached})
            for pid in attached:
                del self.pending_truth[pid]
        return [self._images[key] for key in order]

    def set_image_status(self, image: str, status: ImageStatus | str) -> None:
        """Set an image's review status (one undo step)."""
        new = ImageStatus(status)
        old = self.image(image)
        if old.status is new:
            return
        self._apply([], [replace(old, status=new)], f"mark {new.value}", touched={image})

    def mark_reviewed(self, image: str) -> None:
        """Mark the image reviewed as it stands (one undo step)."""
        self.set_image_status(image, ImageStatus.REVIEWED)

    def mark_no_opacity(self, image: str) -> None:
        """ "No opacity": reject its proposals, delete its other boxes, status NO_OPACITY.

        One undo step.
        """
        old = self.image(image)
        now = self.clock()
        changes = []
        for box in self.boxes(image, active=True):
            status = BoxStatus.REJECTED if box.kind is BoxKind.PREDICTION else BoxStatus.DELETED
            changes.append((box, self._touch(box, now, status=status)))
        self._apply(
            changes,
            [replace(old, status=ImageStatus.NO_OPACITY)],
            "mark no opacity",
            touched={image},
        )

    def set_rsna_class(self, image: str, rsna_class: str) -> None:
        """Store the RSNA class (from a class-info CSV) of an image (not an undo step)."""
        self.set_rsna_classes({image: rsna_class})

    def set_rsna_classes(self, classes: Mapping[str, str]) -> None:
        """Store RSNA classes of several images in one transaction (not an undo step)."""
        changed = []
        for image, rsna_class in classes.items():
            old = self.image(image)
            if old.rsna_class != rsna_class:
                changed.append(replace(old, rsna_class=str(rsna_class)))
        if changed:
            self._apply([], changed, "import class", record=False, count_edit=False)

    def add_seconds(self, image: str, seconds: float) -> None:
        """Add time the image was on screen (written through; not an undo step)."""
        if not math.isfinite(seconds) or seconds <= 0:
            return
        old = self.image(image)
        self._apply(
            [],
            [replace(old, seconds=old.seconds + float(seconds))],
            "time",
            record=False,
            count_edit=False,
        )

    # -- models and ground truth -----------------------------------------------------------

    def add_model(self, model: ModelInfo) -> None:
        """Record a model used in this session (name, checkpoint path, threshold, metadata)."""
        if not model.added:
            model = replace(model, added=self.clock())
        if self.writer is not None:
            self.writer.write_model(model)
        self.models[model.name] = model

    def set_predictions(
        self,
        image: str,
        origin: str,
        detections: Iterable[tuple[Sequence[float], float]],
    ) -> list[ReviewBox]:
        """Replace ``origin``'s proposals on an image by a new model run.

        ``detections`` are ``(xyxy, score)`` in image pixels. Boxes of that model already
        accepted, rejected or edited stay; a new detection overlapping one of them at
        :data:`DECIDED_IOU` is dropped. Not an undo step (it is a model run, not an edit).

        Returns
        -------
        list of ReviewBox
            The new proposals.
        """
        old_image = self.image(image)
        now = self.clock()
        decided = []
        changes: list[tuple[ReviewBox | None, ReviewBox | None]] = []
        for box in self.boxes(image):
            if box.origin != origin or box.source != "model":
                continue
            if box.kind is BoxKind.PREDICTION and box.status is BoxStatus.PROPOSED:
                changes.append((box, None))
            else:
                decided.append(box.xyxy)
        new = []
        for xyxy, score in detections:
            box_xyxy = check_xyxy(xyxy)
            if any(box_iou(box_xyxy, d) >= DECIDED_IOU for d in decided):
                continue
            s = float(score)
            if not math.isfinite(s):
                raise ReviewError(f"score must be finite, not {score!r}")
            box = self._new_box(
                image, BoxKind.PREDICTION, box_xyxy, score=s, origin=origin, now=now
            )
            new.append(box)
            changes.append((None, box))
        by = (
            old_image.predicted_by
            if origin in old_image.predicted_by
            else (*old_image.predicted_by, origin)
        )
        self._apply(
            changes,
            [replace(old_image, predicted_by=by)],
            f"predictions {origin}",
            record=False,
            count_edit=False,
        )
        self.events.predictions_set.emit(image, origin)
        return new

    def add_ground_truth(
        self, image: str, boxes_xyxy: Iterable[Sequence[float]], origin: str
    ) -> list[ReviewBox]:
        """Add ground-truth boxes to one image; see :meth:`import_ground_truth`."""
        return self.import_ground_truth({image: boxes_xyxy}, origin)[0]

    def import_ground_truth(
        self,
        boxes_by_image: Mapping[str, Iterable[Sequence[float]]],
        origin: str,
        pending: Mapping[str, Iterable[Sequence[float]]] | None = None,
    ) -> tuple[list[ReviewBox], int]:
        """Add ground truth to open images and keep it for patientIds not open.

        A box equal to a ground-truth box already on the image (or already kept for that
        patientId) is skipped, so importing twice adds nothing. One transaction for the open
        images, one for the kept boxes; not an undo step (an import, not an edit).

        Parameters
        ----------
        boxes_by_image : mapping
            Image key -> ``(x0, y0, x1, y1)`` boxes.
        origin : str
            Where they come from (the CSV file name).
        pending : mapping, optional
            patientId (of an image not open) -> boxes, attached when the image is added.

        Returns
        -------
        added : list of ReviewBox
        kept : int
            Boxes newly kept for images not open.
        """
        now = self.clock()
        new: list[ReviewBox] = []
        for image, boxes_xyxy in boxes_by_image.items():
            self.image(image)
            if isinstance(boxes_xyxy, Sequence) and not boxes_xyxy:
                continue
            existing = {b.xyxy for b in self.boxes(image, kind=BoxKind.GROUND_TRUTH)}
            for xyxy in boxes_xyxy:
                box_xyxy = check_xyxy(xyxy)
                if box_xyxy in existing:
                    continue
                existing.add(box_xyxy)
                new.append(
                    self._new_box(image, BoxKind.GROUND_TRUTH, box_xyxy, origin=origin, now=now)
                )
        if new:
            self._apply(
                [(None, b) for b in new], [], f"import {origin}", record=False, count_edit=False
            )
        updates: dict[str, list[tuple[XYXY, str]]] = {}
        kept = 0
        for patient_id, boxes_xyxy in (pending or {}).items():
            items = list(self.pending_truth.get(patient_id, []))
            known = {xyxy for xyxy, _o in items}
            for xyxy in boxes_xyxy:
                box_xyxy = check_xyxy(xyxy)
                if box_xyxy not in known:
                    known.add(box_xyxy)
                    items.append((box_xyxy, origin))
                    kept += 1
            if len(items) != len(self.pending_truth.get(patient_id, [])):
                updates[patient_id] = items
        if updates:
            if self.writer is not None:
                self.writer.write_pending(updates)
            self.pending_truth.update(updates)
        return new, kept

    # -- edits (each one undo step) -------------------------------------------------------

    def add_box(self, image: str, xyxy: Sequence[float]) -> ReviewBox:
        """Draw a reviewer box (status ADDED)."""
        self.image(image)
        box = self._new_box(
            image, BoxKind.REVIEWER, check_xyxy(xyxy), status=BoxStatus.ADDED, now=self.clock()
        )
        self._apply([(None, box)], [], "add box", touched={image})
        return box

    def accept(self, box_id: str) -> ReviewBox:
        """Accept a prediction: it becomes a REVIEWER box (status ACCEPTED), origin and score kept."""
        box = self.box(box_id)
        if box.kind is not BoxKind.PREDICTION:
            raise ReviewError(f"box {box_id} is a {box.kind.value} box, not a prediction")
        new = self._touch(box, self.clock(), kind=BoxKind.REVIEWER, status=BoxStatus.ACCEPTED)
        self._apply([(box, new)], [], "accept", touched={box.image})
        return new

    def accept_all(self, image: str, threshold: float = 0.0) -> list[ReviewBox]:
        """Accept every proposed prediction with ``score >= threshold`` (one undo step)."""
        self.image(image)
        todo = [
            b
            for b in self.boxes(image, kind=BoxKind.PREDICTION, status=BoxStatus.PROPOSED)
            if b.score is None or b.score >= threshold
        ]
        now = self.clock()
        changes = [
            (b, self._touch(b, now, kind=BoxKind.REVIEWER, status=BoxStatus.ACCEPTED)) for b in todo
        ]
        if changes:
            self._apply(changes, [], "accept all", touched={image})
        return [new for _old, new in changes]

    def reject(self, box_id: str) -> ReviewBox:
        """Reject a prediction (kept, status REJECTED; shown in the audit export)."""
        box = self.box(box_id)
        if box.kind is not BoxKind.PREDICTION:
            raise ReviewError(f"box {box_id} is a {box.kind.value} box, not a prediction")
        new = self._touch(box, self.clock(), status=BoxStatus.REJECTED)
        self._apply([(box, new)], [], "reject", touched={box.image})
        return new

    def delete(self, box_id: str) -> ReviewBox:
        """Delete a box: a prediction is rejected, any other box gets status DELETED."""
        box = self.box(box_id)
        if box.kind is BoxKind.PREDICTION:
            return self.reject(box_id)
        new = self._touch(box, self.clock(), status=BoxStatus.DELETED)
        self._apply([(box, new)], [], "delete", touched={box.image})
        return new

    def move(self, box_id: str, xyxy: Sequence[float]) -> ReviewBox:
        """Move/resize a box to its final geometry (a drag is recorded once, on release).

        A prediction becomes a reviewer box; every moved box gets status EDITED (a box drawn
        by the reviewer stays ADDED).
        """
        box = self.box(box_id)
        new_xyxy = check_xyxy(xyxy)
        if new_xyxy == box.xyxy:
            return box
        status = BoxStatus.ADDED if box.status is BoxStatus.ADDED else BoxStatus.EDITED
        kind = BoxKind.REVIEWER if box.kind is BoxKind.PREDICTION else box.kind
        new = self._touch(box, self.clock(), xyxy=new_xyxy, status=status, kind=kind)
        self._apply([(box, new)], [], "move", touched={box.image})
        return new

    # -- undo / redo -----------------------------------------------------------------------

    @contextmanager
    def group(self, label: str) -> Iterator[None]:
        """Record every edit inside the block as one undo step (a macro)."""
        with self.history.group(label):
            yield
        self.events.history_changed.emit()

    def undo(self) -> str | None:
        """Undo the last edit step; returns its label (None when there is nothing to undo)."""
        step = self.history.pop_undo()
        if step is None:
            return None
        self._replay(step, reverse=True)
        self.history.push_redo(step)
        self.events.history_changed.emit()
        return step.label

    def redo(self) -> str | None:
        """Redo the last undone step; returns its label (None when there is nothing to redo)."""
        step = self.history.pop_redo()
        if step is None:
            return None
        self._replay(step, reverse=False)
        self.history.push_undo(step)
        self.events.history_changed.emit()
        return step.label

    @property
    def can_undo(self) -> bool:
        return self.history.can_undo

    @property
    def can_redo(self) -> bool:
        return self.history.can_redo

    # -- internals -------------------------------------------------------------------------

    def _new_box(
        self,
        image: str,
        kind: BoxKind,
        xyxy: XYXY,
        *,
        score: float | None = None,
        status: BoxStatus = BoxStatus.PROPOSED,
        origin: str = "",
        now: float,
    ) -> ReviewBox:
        return ReviewBox(
            id=uuid.uuid4().hex,
            image=image,
            kind=kind,
            xyxy=xyxy,
            score=score,
            status=status,
            origin=origin,
            author=self.reviewer,
            created=now,
            modified=now,
        )

    def _touch(self, box: ReviewBox, now: float, **changes: Any) -> ReviewBox:
        return replace(box, author=self.reviewer, modified=now, **changes)

    def _replay(self, step: Step, *, reverse: bool) -> None:
        """Apply a recorded step forwards or backwards.

        A change is skipped when the box is no longer in the state the step left it in (e.g. a
        new model run replaced that proposal), so undo never overwrites a later change.
        """
        boxes = []
        for before, after in step.boxes:
            expected, target = (after, before) if reverse else (before, after)
            box_id = either_box(before, after).id
            if self._boxes.get(box_id) != expected:
                continue
            boxes.append((expected, target))
        images = []
        for before_im, after_im in step.images:
            target_im = before_im if reverse else after_im
            current = self._images.get(target_im.key)
            if current is None:
                continue
            # Only the review status is part of an edit; time and counts keep running.
            images.append(replace(current, status=target_im.status))
        touched = {either_box(b, a).image for b, a in boxes} | {im.key for im in images}
        self._apply(
            boxes,
            images,
            ("undo " if reverse else "redo ") + step.label,
            record=False,
            touched=touched,
        )

    def _apply(
        self,
        boxes: Sequence[tuple[ReviewBox | None, ReviewBox | None]],
        images: Sequence[ImageReview],
        action: str,
        *,
        record: bool = True,
        touched: set[str] | None = None,
        count_edit: bool = True,
    ) -> None:
        """Store, apply, emit and (for user edits) record one change set."""
        now = self.clock()
        new_images = {im.key: im for im in images}
        if count_edit:
            for key in touched or ():
                base = new_images.get(key) or self._images.get(key)
                if base is None:
                    continue
                status = base.status
                if status is ImageStatus.UNREVIEWED and key not in {im.key for im in images}:
                    status = ImageStatus.IN_PROGRESS
                new_images[key] = replace(
                    base, status=status, edits=base.edits + 1, reviewer=self.reviewer, modified=now
                )
        image_list = list(new_images.values())
        if self.writer is not None:
            self.writer.write(boxes, image_list, action, self.reviewer)
        old_images = {k: self._images.get(k) for k in new_images}
        for im in image_list:
            self._put_image(im)
        for before, after in boxes:
            if after is None:
                assert before is not None
                self._drop_box(before.id)
            else:
                self._put_box(after)
        for before, after in boxes:
            if before is None and after is not None:
                self.events.box_added.emit(after)
            elif after is None and before is not None:
                self.events.box_removed.emit(before)
            elif before is not None and after is not None:
                self.events.box_changed.emit(before, after)
        for im in image_list:
            old = old_images[im.key]
            if old is None:
                self.events.image_added.emit(im)
            elif old != im:
                self.events.image_changed.emit(im)
        if record:
            image_pairs = [
                (old_images[im.key], im) for im in image_list if old_images[im.key] is not None
            ]
            self.history.record(Step(action, tuple(boxes), tuple(image_pairs)))
            self.events.history_changed.emit()

    def _put_image(self, image: ImageReview) -> None:
        if image.key not in self._images:
            self._by_image.setdefault(image.key, {})
            self._by_patient.setdefault(image.patient_id, []).append(image.key)
        self._images[image.key] = image

    def _put_box(self, box: ReviewBox) -> None:
        self._boxes[box.id] = box
        self._by_image.setdefault(box.image, {})[box.id] = None

    def _drop_box(self, box_id: str) -> None:
        box = self._boxes.pop(box_id, None)
        if box is not None:
            self._by_image.get(box.image, {}).pop(box_id, None)
