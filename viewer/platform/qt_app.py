"""The QApplication of the viewer: created once, with pyqtgraph set up for row-major images."""

from __future__ import annotations

import sys
from typing import Any


def create_app() -> Any:
    """The QApplication (created once) with pyqtgraph configured for row-major images."""
    import pyqtgraph as pg
    from PySide6 import QtGui, QtWidgets

    from viewer.platform.user_folders import app_icon_path

    app = QtWidgets.QApplication.instance()
    if app is None:
        QtWidgets.QApplication.setApplicationName("pneumoview")
        QtWidgets.QApplication.setApplicationDisplayName("PneumoView")
        app = QtWidgets.QApplication([sys.argv[0]])
    icon = app_icon_path()
    if icon.is_file() and app.windowIcon().isNull():
        app.setWindowIcon(QtGui.QIcon(str(icon)))
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
    return app
