"""Undo/redo for the review model (no Qt), after napari's labels history.

A :class:`Step` is what one edit changed: ``(before, after)`` snapshots of boxes (``None`` for
"did not exist") and of images. Undo applies the befores, redo the afters; the model does that
(:meth:`detector.review.state.ReviewState.undo`). Two ``deque(maxlen=...)`` hold the steps;
a new edit clears the redo deque; :meth:`History.group` merges the edits inside it into one
step (e.g. "accept all").
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Step:
    """One undo step: a label and the ``(before, after)`` snapshots it changed."""

    label: str
    boxes: tuple[tuple[Any, Any], ...] = ()
    images: tuple[tuple[Any, Any], ...] = ()

    def image_keys(self) -> list[str]:
        """Keys of the images this step changes (boxes on them, or their status), in order."""
        keys: dict[str, None] = {}
        for before, after in self.boxes:
            keys[(before or after).image] = None
        for before, after in self.images:
            keys[(before or after).key] = None
        return list(keys)


class History:
    """Undo and redo deques of :class:`Step`, with grouping.

    Parameters
    ----------
    maxlen : int
        Steps kept for undo (the oldest are forgotten).
    """

    def __init__(self, maxlen: int = 500) -> None:
        if maxlen < 1:
            raise ValueError(f"maxlen must be >= 1, not {maxlen}")
        self._undo: deque[Step] = deque(maxlen=maxlen)
        self._redo: deque[Step] = deque(maxlen=maxlen)
        self._group: list[Step] | None = None
        self._group_label = ""
        self._depth = 0

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_label(self) -> str | None:
        """Label of the step :meth:`pop_undo` would return (for an "Undo accept" menu item)."""
        return self._undo[-1].label if self._undo else None

    @property
    def redo_label(self) -> str | None:
        return self._redo[-1].label if self._redo else None

    def record(self, step: Step) -> None:
        """Record a new edit (clears redo); inside :meth:`group` it joins the group's step."""
        if self._group is not None:
            self._group.append(step)
            return
        self._undo.append(step)
        self._redo.clear()

    @contextmanager
    def group(self, label: str) -> Iterator[None]:
        """Merge the steps recorded inside the block into one step named ``label``.

        Nested groups join the outermost one. If the block raises, what it recorded so far is
        still kept as one step (those changes were applied and stored).
        """
        if self._group is not None:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._group, self._group_label = [], label
        try:
            yield
        finally:
            steps, self._group = self._group, None
            if steps:
                self.record(_merge(self._group_label, steps))

    def peek_undo(self) -> Step | None:
        """The step :meth:`pop_undo` would return, left in place."""
        return self._undo[-1] if self._undo else None

    def peek_redo(self) -> Step | None:
        """The step :meth:`pop_redo` would return, left in place."""
        return self._redo[-1] if self._redo else None

    def pop_undo(self) -> Step | None:
        return self._undo.pop() if self._undo else None

    def pop_redo(self) -> Step | None:
        return self._redo.pop() if self._redo else None

    def push_undo(self, step: Step) -> None:
        """Put a redone step back on the undo deque (redo is not cleared)."""
        self._undo.append(step)

    def push_redo(self, step: Step) -> None:
        self._redo.append(step)

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()


def _merge(label: str, steps: list[Step]) -> Step:
    """One step equivalent to ``steps`` applied in order (first before, last after per item)."""
    boxes: dict[str, list[Any]] = {}
    for step in steps:
        for before, after in step.boxes:
            key = (before or after).id
            if key in boxes:
                boxes[key][1] = after
            else:
                boxes[key] = [before, after]
    images: dict[str, list[Any]] = {}
    for step in steps:
        for before, after in step.images:
            if after.key in images:
                images[after.key][1] = after
            else:
                images[after.key] = [before, after]
    return Step(
        label,
        tuple((b, a) for b, a in boxes.values() if b != a),
        tuple((b, a) for b, a in images.values()),
    )
