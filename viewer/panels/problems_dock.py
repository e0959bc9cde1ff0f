"""The Problems dock: the files that cannot be opened or shown, and its status-bar button.

It observes :attr:`viewer.state.ViewerState.problems_added` (see
:meth:`viewer.state.ViewerState.add_problems`, the one way problems are added), counts them in
its title and button, and shows itself the first time a problem arrives.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from viewer.panels.problems_panel import ProblemsPanel
from viewer.state import ViewerState


class ProblemsDock(QtWidgets.QDockWidget):
    """The :class:`ProblemsPanel` in a dock, with a "⚠ N problems" button for the status bar."""

    def __init__(self, state: ViewerState, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Problems", parent)
        self.setObjectName("problems_dock")
        self.panel = ProblemsPanel()
        self.setWidget(self.panel)
        self.setAllowedAreas(QtCore.Qt.DockWidgetArea.AllDockWidgetAreas)
        self.button = QtWidgets.QToolButton()
        self.button.setAutoRaise(True)
        self.button.clicked.connect(self.show_problems)
        self.button.hide()
        self._shown_once = False
        state.problems_added.connect(self.panel.add_problems)
        self.panel.count_changed.connect(self._on_count_changed)

    def _on_count_changed(self, count: int) -> None:
        self.setWindowTitle(f"Problems ({count})" if count else "Problems")
        self.button.setText(f"\u26a0 {count} problem{'s' if count != 1 else ''}")
        self.button.setVisible(count > 0)
        if count and not self.isVisible() and not self._shown_once:
            self._shown_once = True
            self.show()

    def show_problems(self) -> None:
        self.show()
        self.raise_()
