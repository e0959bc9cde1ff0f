"""File → Open recent: the files and folders opened last (from the preferences)."""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6 import QtWidgets

from viewer.platform.settings import AppSettings


class RecentMenu(QtWidgets.QMenu):
    """The remembered paths (a missing one greyed out) and "Clear list"; rebuilt when shown.

    Parameters
    ----------
    prefs : AppSettings
        Holds the list (:attr:`AppSettings.recent`, newest first).
    open_path : callable
        Opens one path when its entry is chosen.
    """

    def __init__(
        self,
        prefs: AppSettings,
        open_path: Callable[[str], object],
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__("Open &recent", parent)
        self.setObjectName("recent_menu")
        self.prefs = prefs
        self.open_path = open_path
        self.aboutToShow.connect(self.rebuild)
        self.rebuild()

    def rebuild(self) -> None:
        self.clear()
        for path in self.prefs.recent:
            act = self.addAction(path)
            act.triggered.connect(lambda _=False, p=path: self.open_path(p))
            act.setEnabled(os.path.exists(path))
        if not self.prefs.recent:
            self.addAction("(none)").setEnabled(False)
        else:
            self.addSeparator()
            self.addAction("Clear list", self._clear)

    def _clear(self) -> None:
        self.prefs.recent = []
        self.rebuild()
