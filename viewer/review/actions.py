"""The review actions and their keys (the keyboard contract), and the Review menu.

The keys are documented in README ("Reviewing") and listed by Help → Shortcuts. They win over
older keys of the viewer: **P** (was the Pan tool; Esc returns to Pan) now toggles predictions,
**Delete** (was "delete rulers", now Shift+Delete) deletes the selected box.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6 import QtGui, QtWidgets

from viewer.canvas.box_layers import GROUND_TRUTH, PREDICTION, legend_html

if TYPE_CHECKING:
    from viewer.main_window import MainWindow

#: (attribute, menu text, keys) of the review actions, in menu order; None = separator.
REVIEW_KEYS: tuple[tuple[str, str, tuple[str, ...]] | None, ...] = (
    ("act_draw_box", "&Draw a box (then left-drag)", ("B",)),
    ("act_next_box", "Select &next box", ("Tab",)),
    ("act_prev_box", "Select &previous box", ("Shift+Tab", "Shift+Backtab")),
    ("act_accept", "&Accept selected prediction", ("Return", "Enter")),
    ("act_accept_all", "Accept all &visible predictions", ("Shift+Return", "Shift+Enter")),
    ("act_delete_box", "&Reject prediction / delete box", ("Delete", "Backspace")),
    None,
    ("act_no_opacity", "Mark image \u201c&no opacity\u201d", ("N",)),
    ("act_reviewed_next", "Mark &reviewed and go to next unreviewed", ("Space",)),
    None,
    ("act_undo", "&Undo", ("Ctrl+Z",)),
    ("act_redo", "&Redo", ("Ctrl+Shift+Z", "Ctrl+Y")),
)


class ReviewActions:
    """The QActions of the review workflow, bound to a window's :class:`ReviewController`."""

    def __init__(self, window: MainWindow, add: Callable[..., QtGui.QAction]) -> None:
        review = window.review
        slots: dict[str, Callable[[], object]] = {
            "act_draw_box": review.start_drawing,
            "act_next_box": lambda: review.select_next(1),
            "act_prev_box": lambda: review.select_next(-1),
            "act_accept": review.accept_selected,
            "act_accept_all": review.accept_all_visible,
            "act_delete_box": review.delete_selected,
            "act_no_opacity": review.mark_no_opacity,
            "act_reviewed_next": review.mark_reviewed_and_next,
            "act_undo": review.undo,
            "act_redo": review.redo,
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
            lambda on: self._toggle(window, GROUND_TRUTH, on),
            ["G"],
            checkable=True,
        )
        self.act_show_predictions = add(
            "Show &predictions",
            lambda on: self._toggle(window, PREDICTION, on),
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

    @staticmethod
    def _toggle(window: MainWindow, kind: str, on: bool) -> None:
        window.review.layers.set_layer_visible(kind, on)
        window.detection_panel.set_legend(
            legend_html(window.review.layers.visibility(), LEGEND_KEYS)
        )

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
