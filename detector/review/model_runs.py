"""Loads into a review (not undo steps): models, their predictions, imported ground truth."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from detector.review.core import ReviewCore
from detector.review.records import (
    DECIDED_IOU,
    XYXY,
    BoxKind,
    BoxStatus,
    ModelInfo,
    ReviewBox,
    ReviewError,
    check_xyxy,
)
from detector.rsna.matching import box_iou


class ModelRuns(ReviewCore):
    """The model and ground-truth loads of :class:`detector.review.state.ReviewState`."""

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
            box = replace(box, model_xyxy=box_xyxy)  # what the submission export writes
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

    def adopt_ground_truth(
        self, image: str, boxes_xyxy: Iterable[Sequence[float]], origin: str
    ) -> list[ReviewBox]:
        """The reader adds ground truth to one image (e.g. from an SR): one undo step.

        Unlike an import (:meth:`import_ground_truth`, not undoable), this is a reader's edit:
        it is recorded for undo and counts as an edit of the image. A box equal to a
        ground-truth box already on the image is skipped; nothing already there is changed.
        """
        self.image(image)
        existing = {b.xyxy for b in self.boxes(image, kind=BoxKind.GROUND_TRUTH)}
        now = self.clock()
        new: list[ReviewBox] = []
        for xyxy in boxes_xyxy:
            box_xyxy = check_xyxy(xyxy)
            if box_xyxy in existing:
                continue
            existing.add(box_xyxy)
            new.append(self._new_box(image, BoxKind.GROUND_TRUTH, box_xyxy, origin=origin, now=now))
        if new:
            self._apply([(None, b) for b in new], [], f"add ground truth {origin}", touched={image})
        return new

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
