"""The review model's core: storage, queries, undo/redo and the one change path (no Qt).

Every change goes through :meth:`ReviewCore._apply`, which (1) writes it through to the
session store in one transaction when one is attached, (2) updates memory, (3) emits events and
(4) records an undo step for user edits. Boxes and images are frozen dataclasses, so a change
is a ``(before, after)`` pair of snapshots and undo/redo simply swap them.

The operations are added by one class per job, all built on :class:`ReviewCore` and combined
into :class:`detector.review.state.ReviewState`: :mod:`detector.review.image_edits`,
:mod:`detector.review.box_edits`, :mod:`detector.review.model_runs` and
:mod:`detector.review.comparing`.
"""

from __future__ import annotations

import getpass
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from types import MappingProxyType
from typing import Any, Protocol

from psygnal import Signal, SignalGroup

from detector.review.history import History, Step
from detector.review.records import (
    DONE_STATUSES,
    XYXY,
    BoxKind,
    BoxStatus,
    ImageReview,
    ImageStatus,
    ModelInfo,
    ReviewBox,
    ReviewError,
    as_enum_set,
    either_box,
)


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

    def write_labels(self, labels: Sequence[str]) -> None: ...


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


class ReviewCore:
    """Images and boxes of a review session, their queries, undo/redo and the change path.

    Not used alone: :class:`detector.review.state.ReviewState` adds the operations.

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
        #: Box labels added to the session's label set (a class-info CSV's classes).
        self.extra_labels: list[str] = []

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
            # Only the review status and the note are edits; time and counts keep running.
            images.append(replace(current, status=target_im.status, note=target_im.note))
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
