"""Box edits of a review, each one undo step: draw, accept, reject, delete, move, label, flag."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from detector.review.core import ReviewCore
from detector.review.records import (
    BOX_FLAGS,
    DEFAULT_LABEL,
    MAX_LABEL,
    BoxKind,
    BoxStatus,
    ReviewBox,
    ReviewError,
    check_text,
    check_xyxy,
)


class BoxEdits(ReviewCore):
    """The box edits of :class:`detector.review.state.ReviewState`."""

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

    def label_set(self) -> list[str]:
        """The labels a box may carry: ``"Lung Opacity"``, then the classes of the class-info
        CSVs imported (``--classes`` or File → Import class CSV; :meth:`add_labels`) and any
        label already on a box, sorted."""
        extra = set(self.extra_labels)
        extra |= {im.rsna_class for im in self.images.values() if im.rsna_class}
        extra |= {b.label for b in self.boxes() if b.label}
        extra.discard(DEFAULT_LABEL)
        return [DEFAULT_LABEL, *sorted(extra)]

    def add_labels(self, labels: Iterable[str]) -> list[str]:
        """Add labels to the session's label set (written through; not an undo step).

        Empty labels and labels over 64 characters are left out. Returns those added.
        """
        new: list[str] = []
        known = set(self.label_set())
        for label in labels:
            try:
                text = check_text(label, "a label", MAX_LABEL)
            except ReviewError:
                continue
            if text and text not in known:
                known.add(text)
                new.append(text)
        if new:
            if self.writer is not None:
                self.writer.write_labels(new)
            self.extra_labels.extend(new)
        return new

    def set_box_label(self, box_id: str, label: str) -> ReviewBox:
        """Give a box a label from :meth:`label_set` (one undo step)."""
        box = self.box(box_id)
        text = check_text(label, "a label", MAX_LABEL)
        if text not in self.label_set():
            choices = ", ".join(self.label_set())
            raise ReviewError(f"label {text!r} is not in this session's label set ({choices})")
        if text == box.label:
            return box
        new = self._touch(box, self.clock(), label=text)
        self._apply([(box, new)], [], "label box", touched={box.image})
        return new

    def set_box_flag(self, box_id: str, flag: str) -> ReviewBox:
        """Flag a box ``"equivocal"`` or clear its flag with ``""`` (one undo step)."""
        box = self.box(box_id)
        if flag not in BOX_FLAGS:
            raise ReviewError(f"a box flag is one of {BOX_FLAGS}, not {flag!r}")
        if flag == box.flag:
            return box
        new = self._touch(box, self.clock(), flag=flag)
        self._apply([(box, new)], [], "flag box" if flag else "unflag box", touched={box.image})
        return new
