"""The window's QAction factory: text, slot, shortcuts and tip in one call; every action made is
listed (in order) for Help → Keyboard shortcuts."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6 import QtGui, QtWidgets


class ActionFactory:
    """Makes QActions owned by (and active in) ``owner`` and remembers them in order.

    Parameters
    ----------
    owner : QWidget
        The window: its actions' shortcuts work wherever the focus is inside it.
    """

    def __init__(self, owner: QtWidgets.QWidget) -> None:
        self.owner = owner
        #: Every action made, in order (Help → Keyboard shortcuts lists them).
        self.actions: list[QtGui.QAction] = []

    def __call__(
        self,
        text: str,
        slot: Callable[..., object],
        shortcuts: Sequence[str | QtGui.QKeySequence.StandardKey] = (),
        *,
        checkable: bool = False,
        tip: str = "",
    ) -> QtGui.QAction:
        action = QtGui.QAction(text, self.owner)
        keys = [QtGui.QKeySequence(k) for k in shortcuts]
        if keys:
            action.setShortcuts(keys)
        action.setCheckable(checkable)
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        self.owner.addAction(action)
        self.actions.append(action)
        return action
