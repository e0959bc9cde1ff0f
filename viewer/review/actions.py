"""The review actions and their keys (the keyboard contract), and the Review menu.

The keys are documented in README ("Reviewing") and listed by Help → Shortcuts. They win over
older keys of the viewer: **P** (was the Pan tool; Esc returns to Pan) now toggles predictions,
**Delete** (was "delete rulers", now Shift+Delete) rejects the selected prediction or deletes the
reader's own box; it never removes ground truth (**Ctrl+Delete** does, after a confirmation).
What each key does is :mod:`viewer.review.box_keys`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6 import QtGui, QtWidgets

from viewer.canvas.box_layers import GROUND_TRUTH, PREDICTION, legend_html
from viewer.review.box_keys import BoxKeys
from viewer.review.controller import ReviewController

#: (attribute, menu text, keys) of the review actions, in menu order; None = separator.
REVIEW_KEYS: tuple[tuple[str, str, tuple[str, ...]] | None, ...] = (
    ("act_draw_box", "&Draw a box (then left-drag)", ("B",)),
    ("act_next_box", "Select &next box", ("Tab",)),
    ("act_prev_box", "Select &previous box", ("Shift+Tab", "Shift+Backtab")),
    ("act_accept", "&Accept selected prediction", ("Return", "Enter")),
    ("act_accept_all", "Accept all &visible predictions", ("Shift+Return", "Shift+Enter")),
    ("act_delete_box", "&Reject prediction / delete box", ("Delete", "Backspace")),
    (
        "act_remove_truth",
        "Remove selected &ground-truth box (asks first)",
        ("Ctrl+Delete", "Ctrl+Backspace"),
    ),
    None,
    ("act_no_opacity", "Mark image \u201c&no opacity\u201d", ("N",)),
    ("act_reviewed_next", "Mark &reviewed and go to next unreviewed", ("Space",)),
    None,
    ("act_undo", "&Undo", ("Ctrl+Z",)),
    ("act_redo", "&Redo", ("Ctrl+Shift+Z", "Ctrl+Y")),
)


class ReviewActions:
    """The QActions of the review workflow, bound to a :class:`ReviewController`.

    Parameters
    ----------
    review : ReviewController
        The review the actions edit (through :class:`viewer.review.box_keys.BoxKeys`).
    add : callable
        Creates a QAction (text, slot, keys, checkable=, tip=) the way the window lists them.
    show_legend : callable
        Receives the legend (HTML) after a layer was shown or hidden.
    """

    def __init__(
        self,
        review: ReviewController,
        add: Callable[..., QtGui.QAction],
        show_legend: Callable[[str], object],
    ) -> None:
        self.review = review
        self.show_legend = show_legend
        self.box_keys = bk = BoxKeys(review)
        slots: dict[str, Callable[[], object]] = {
            "act_draw_box": review.start_drawing,
            "act_next_box": lambda: bk.select_next(1),
            "act_prev_box": lambda: bk.select_next(-1),
            "act_accept": bk.accept_selected,
            "act_accept_all": bk.accept_all_visible,
            "act_delete_box": bk.delete_selected,
            "act_remove_truth": bk.remove_ground_truth,
            "act_no_opacity": bk.mark_no_opacity,
            "act_reviewed_next": review.mark_reviewed_and_next,
            "act_undo": bk.undo,
            "act_redo": bk.redo,
        }
        self.ordered: list[QtGui.QAction | None] = []
        for entry in REVIEW_KEYS:
            if entry is None:
                self.ordered.append(None)
                continue
            name, text, keys = entry
            action = add(text, slots[name], list(keys))
            setattr(self, name, action)
            self.ordered.append(action)
        self.act_show_truth = add(
            "Show &ground truth",
            lambda on: self._toggle(GROUND_TRUTH, on),
            ["G"],
            checkable=True,
        )
        self.act_show_predictions = add(
            "Show &predictions",
            lambda on: self._toggle(PREDICTION, on),
            ["P"],
            checkable=True,
        )
        self.act_compare = add(
            "&Compare predictions with ground truth",
            lambda on: review.set_compare(on),
            ["Shift+G"],
            checkable=True,
            tip="Mark matched, missed and false-positive boxes at the chosen IoU",
        )
        for act in (self.act_show_truth, self.act_show_predictions):
            act.setChecked(True)
        review.compare_changed.connect(self.act_compare.setChecked)

    def legend(self) -> str:
        """The legend of the layers as they are shown now."""
        return legend_html(self.review.layers.visibility(), LEGEND_KEYS)

    def _toggle(self, kind: str, on: bool) -> None:
        self.review.layers.set_layer_visible(kind, on)
        self.show_legend(self.legend())

    def fill_menu(self, menu: QtWidgets.QMenu) -> None:
        for action in self.ordered:
            if action is None:
                menu.addSeparator()
            else:
                menu.addAction(action)
        menu.addSeparator()
        menu.addActions([self.act_show_truth, self.act_show_predictions, self.act_compare])


#: Keys shown next to the layer names in the legend.
LEGEND_KEYS: Sequence[tuple[str, str]] = ((GROUND_TRUTH, "G"), (PREDICTION, "P"))
