"""Dropping files and folders on a window: local paths are accepted and handed on."""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore, QtGui


def local_paths(mime: QtCore.QMimeData) -> list[str]:
    """The local files and folders of a drag (remote URLs are left out)."""
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]


class FileDrop(QtCore.QObject):
    """Event filter for a widget that accepts drops: local paths go to ``open_paths``.

    The widget must ``setAcceptDrops(True)`` and ``installEventFilter`` this object.
    """

    def __init__(
        self, open_paths: Callable[[list[str]], object], parent: QtCore.QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.open_paths = open_paths

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802 - Qt override
        kind = event.type()
        if kind == QtCore.QEvent.Type.DragEnter and isinstance(event, QtGui.QDragEnterEvent):
            if local_paths(event.mimeData()):
                event.acceptProposedAction()
            else:
                event.ignore()
            return True
        if kind == QtCore.QEvent.Type.DragMove and isinstance(event, QtGui.QDragMoveEvent):
            if local_paths(event.mimeData()):
                event.acceptProposedAction()
            return True
        if kind == QtCore.QEvent.Type.Drop and isinstance(event, QtGui.QDropEvent):
            paths = local_paths(event.mimeData())
            if paths:
                event.acceptProposedAction()
                self.open_paths(paths)
            return True
        return super().eventFilter(watched, event)
