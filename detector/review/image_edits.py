"""Images of a review: registering them, their review status, note, RSNA class and time on screen."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace

from detector.files.identity import ImageIdentity
from detector.review.core import ReviewCore
from detector.review.records import (
    MAX_NOTE,
    BoxKind,
    BoxStatus,
    ImageReview,
    ImageStatus,
    ReviewBox,
    check_text,
)


class ImageEdits(ReviewCore):
    """The image operations of :class:`detector.review.state.ReviewState`."""

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

    def set_image_note(self, image: str, note: str) -> None:
        """Set the reader's free-text note on an image (one line; ``""`` clears it; one undo step)."""
        text = check_text(note, "an image note", MAX_NOTE)
        old = self.image(image)
        if old.note == text:
            return
        self._apply([], [replace(old, note=text)], "note", touched={image})

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
