"""The window's PACS entries: File → PACS... (Ctrl+Shift+O), Review → Send findings to PACS... and
Review → Cancel sending findings (enabled while a send runs).

Gets only what the two jobs use: the window's ``open_paths``, the open review state, the cache
folder and a status-bar line. The PACS dialog is made on first use and kept (hidden when
closed), so a retrieve goes on while the reader works in the window.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtGui, QtWidgets

from detector.review.state import ReviewState
from viewer.pacs.dialog import PacsDialog
from viewer.pacs.retrieval import OpenPaths
from viewer.pacs.send_findings import SendFindings

SHORTCUT = "Ctrl+Shift+O"


class PacsActions:
    """The two actions and their dialogs.

    Parameters
    ----------
    add : callable
        The window's action factory.
    open_paths : callable
        ``open_paths(paths, recent=folders)``.
    review : callable
        Returns the open :class:`ReviewState`.
    cache_root : callable
        Returns the per-user cache folder.
    message : callable
        ``(text, msecs)``: a status-bar line.
    parent : QWidget
        Owner of the dialogs.
    """

    def __init__(
        self,
        add: Callable[..., QtGui.QAction],
        open_paths: OpenPaths,
        review: Callable[[], ReviewState],
        cache_root: Callable[[], str],
        message: Callable[..., object],
        parent: QtWidgets.QWidget,
    ) -> None:
        self.open_paths = open_paths
        self.cache_root = cache_root
        self.message = message
        self.parent = parent
        self.dialog: PacsDialog | None = None
        self.sender = SendFindings(review, message, parent)
        self.act_pacs = add(
            "&PACS...",
            self.show_dialog,
            [SHORTCUT],
            tip="Search a PACS and retrieve studies into the cache",
        )
        self.act_send = add(
            "Send findings to &PACS...",
            self.sender.start,
            tip="Send the findings of the images marked reviewed to a PACS",
        )
        self.act_cancel_send = add(
            "Cancel sending findings",
            self.sender.cancel,
            tip="Stop sending findings after the file being sent (what was sent stays)",
        )
        self.act_cancel_send.setEnabled(False)
        self.sender.running_changed.connect(self.act_cancel_send.setEnabled)

    def show_dialog(self) -> PacsDialog:
        """Show the PACS dialog (made on first use)."""
        if self.dialog is None:
            self.dialog = PacsDialog(self.open_paths, self.cache_root(), self.message, self.parent)
        if self.dialog.isVisible():  # behind the window: bring it to the front
            self.dialog.raise_()
            self.dialog.activateWindow()
        else:
            self.dialog.show()
        return self.dialog

    def shutdown(self) -> None:
        """Window closing: stop a retrieve or a send between two files."""
        if self.dialog is not None:
            self.dialog.shutdown()
        self.sender.shutdown()
