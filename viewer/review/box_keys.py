"""What the review keys do to boxes and images: the keyboard contract's rules (README, "Reviewing").

The rules a reader can rely on:

- **Enter** accepts, **Delete** rejects a prediction or deletes the reader's own box; then the
  selection goes to the next *undecided* prediction (after the decided one in Tab order,
  wrapping), or to nothing when none is left. It never lands on ground truth by itself.
- **Delete** never removes ground truth: with a ground-truth box selected it only says how.
  **Ctrl+Delete** removes the selected ground-truth box after a confirmation.
- **N** ("no opacity") on an image with ground truth asks first, naming how many ground-truth
  boxes it will remove; declined, nothing changes.
- With the ruler tool on, **Delete** changes no box (Shift+Delete removes the rulers).
- **Ctrl+Z** / redo of an edit made on another image first shows that image, then undoes it
  there: an undo never changes an image the reader cannot see.

A removed box stays drawn, struck through, until the image is left
(:meth:`viewer.review.controller.ReviewController.views`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6 import QtWidgets

from detector.review import BoxKind, ReviewBox
from viewer.canvas.box_layers import PREDICTION
from viewer.review.controller import ReviewController

#: ``(title, question, yes-button text) -> confirmed``.
Confirm = Callable[[str, str, str], bool]


def ask(title: str, question: str, yes_text: str) -> bool:
    """A modal question over the active window; the safe answer (Cancel) is the default."""
    box = QtWidgets.QMessageBox(QtWidgets.QApplication.activeWindow())
    box.setIcon(QtWidgets.QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(question)
    yes = box.addButton(yes_text, QtWidgets.QMessageBox.ButtonRole.DestructiveRole)
    cancel = box.addButton(QtWidgets.QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(cancel)
    box.setEscapeButton(cancel)
    box.exec()
    chosen = box.clickedButton() is yes
    box.deleteLater()
    return chosen


def next_undecided(before: Sequence[str], decided: str, after: Sequence[str]) -> str | None:
    """The prediction to select once ``decided`` was accepted or rejected.

    Parameters
    ----------
    before : sequence of str
        Undecided predictions shown before the edit, in Tab order.
    decided : str
        The box just decided.
    after : sequence of str
        Undecided predictions shown after the edit.

    Returns
    -------
    str or None
        The first of ``after`` that came after ``decided`` in ``before`` (wrapping around), or
        ``None`` when none is left.
    """
    if not after:
        return None
    start = before.index(decided) + 1 if decided in before else 0
    rotated = list(before[start:]) + list(before[:start])
    for box_id in rotated:
        if box_id in after:
            return box_id
    return after[0]


class BoxKeys:
    """The review keys' actions on a :class:`ReviewController`.

    Parameters
    ----------
    review : ReviewController
        The model, the canvas and its box layers.
    confirm : callable, optional
        Asks before ground truth is removed (default: :func:`ask`, a modal question).
    """

    def __init__(self, review: ReviewController, confirm: Confirm = ask) -> None:
        self.review = review
        self.confirm = confirm

    # -- selection --------------------------------------------------------------------------

    def select_next(self, step: int = 1) -> None:
        """**Tab** / **Shift+Tab**: the next / previous live box (predictions first)."""
        self.review.layers.select_step(step)

    def _undecided(self) -> list[str]:
        return self.review.layers.visible_ids(PREDICTION)

    def _decide(self, box: ReviewBox, edit: Callable[[str], object]) -> None:
        """Apply ``edit`` to ``box``; the selection goes to the next undecided prediction."""
        before = self._undecided()
        if self.review.edit(edit, box.id) is None:
            return
        self.review.layers.select(next_undecided(before, box.id, self._undecided()))

    # -- accept -----------------------------------------------------------------------------

    def accept_selected(self) -> None:
        """**Enter**: the selected prediction becomes a reviewer box (origin and score kept)."""
        box = self.review.selected_box()
        if box is None:
            self.review.message.emit("Select a prediction first (click it or press Tab)")
        elif box.kind is not BoxKind.PREDICTION:
            self.review.message.emit("Only predictions can be accepted")
        else:
            self._decide(box, self.review.review.accept)

    def accept_all_visible(self) -> None:
        """**Shift+Enter**: accept every prediction shown (at or above the threshold)."""
        review = self.review
        key = review.current_key
        if key is None:
            return
        if not review.layers.layer_visible(PREDICTION):
            review.message.emit("Predictions are hidden (P shows them)")
            return
        accepted = review.edit(review.review.accept_all, key, review.threshold)
        if accepted is not None:
            review.layers.select(None)  # no undecided prediction is shown any more
            review.message.emit(f"Accepted {len(accepted)} prediction(s)")

    # -- delete -----------------------------------------------------------------------------

    def delete_selected(self) -> None:
        """**Delete** / **Backspace**: reject a prediction or delete a reviewer box."""
        review = self.review
        if review.canvas.tool == "measure":
            review.message.emit(
                "Ruler tool: Delete changes no box (Shift+Delete removes the rulers; Esc: Pan)"
            )
            return
        box = review.selected_box()
        if box is None:
            review.message.emit("Select a box first (click it or press Tab)")
        elif box.kind is BoxKind.GROUND_TRUTH:
            review.message.emit(
                "Delete does not remove ground truth: Ctrl+Delete removes the selected "
                "ground-truth box (it asks first)"
            )
        else:
            self._decide(box, review.review.delete)

    def remove_ground_truth(self) -> None:
        """**Ctrl+Delete**: remove the selected ground-truth box, once the reader confirms."""
        review = self.review
        box = review.selected_box()
        if box is None or box.kind is not BoxKind.GROUND_TRUTH:
            review.message.emit(
                "Ctrl+Delete removes a selected ground-truth box (Tab to it or click it); "
                "Delete rejects predictions and deletes your own boxes"
            )
            return
        source = f" (imported from {Path(box.origin).name})" if box.origin else ""
        question = (
            f"Remove this ground-truth box{source}?\n\n"
            "It will no longer be in the labels export. Ctrl+Z brings it back."
        )
        if not self.confirm("Remove ground truth", question, "Remove ground truth"):
            review.message.emit("Ground truth kept")
            return
        self._decide(box, review.review.delete)
        review.message.emit("Ground-truth box removed (Ctrl+Z brings it back)")

    # -- images -----------------------------------------------------------------------------

    def mark_no_opacity(self) -> None:
        """**N**: no opacity (reviewed, no boxes); asks first when ground truth would go."""
        review = self.review
        key = review.current_key
        if key is None:
            return
        truth = review.review.boxes(key, kind=BoxKind.GROUND_TRUTH, active=True)
        if truth:
            question = (
                f"This image has {len(truth)} ground-truth box(es).\n\n"
                f"Marking it \u201cno opacity\u201d removes them, with every prediction and "
                f"box of yours on it. Ctrl+Z brings them back."
            )
            yes = f"Remove {len(truth)} ground-truth box(es)"
            if not self.confirm("No opacity", question, yes):
                review.message.emit("Not marked: ground truth kept")
                return
        review.edit(review.review.mark_no_opacity, key)
        review.layers.select(None)

    # -- undo / redo ------------------------------------------------------------------------

    def undo(self) -> None:
        """**Ctrl+Z**: undo the last edit, on its own image (shown first)."""
        self._replay(redo=False)

    def redo(self) -> None:
        """**Ctrl+Shift+Z** / **Ctrl+Y**: redo the last undone edit, on its own image."""
        self._replay(redo=True)

    def _replay(self, *, redo: bool) -> None:
        review = self.review
        history = review.review.history
        step = history.peek_redo() if redo else history.peek_undo()
        verb = "Redone" if redo else "Undone"
        if step is None:
            review.message.emit("Nothing to redo" if redo else "Nothing to undo")
            return
        images = step.image_keys()
        shown = review.shown_key()
        where = ""
        if images and shown not in images:
            target = next((k for k in images if review.instance_for(k) is not None), None)
            if target is None:
                review.message.emit(
                    f"Not {verb.lower()}: \u201c{step.label}\u201d changed an image that is "
                    "not open"
                )
                return
            self._show(target)
            inst = review.instance_for(target)
            where = f" on {inst.name}" if inst is not None else ""
        label = review.edit(review.review.redo if redo else review.review.undo)
        if label:
            review.message.emit(f"{verb}{where}: {label}")

    def _show(self, key: str) -> None:
        """Put the image ``key`` (and its frame) on screen."""
        review = self.review
        inst = review.instance_for(key)
        if inst is None:
            return
        review.state.set_current(inst)
        frame = review.review.image(key).frame
        if frame:
            review.state.set_frame(frame)
