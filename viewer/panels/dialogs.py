"""About box and the keyboard-shortcut list."""

from __future__ import annotations

import importlib.metadata
import platform

from PySide6 import QtCore, QtGui, QtWidgets

#: Mouse and keys handled by widgets rather than menu actions (shown in Help > Shortcuts).
MOUSE_AND_KEYS: tuple[tuple[str, str], ...] = (
    ("Window/level", "Right-drag (left-drag in Window tool): horizontal = width, vertical = level"),
    ("Pan", "Middle-drag, or left-drag in Pan tool"),
    ("Zoom", "Mouse wheel"),
    ("Measure distance", "Left-drag in Measure tool; drag the ends to adjust"),
    ("Previous / next image", "Up / Down (image or study list focused)"),
    ("Previous / next frame", "Left / Right (image focused)"),
    ("Copy tag value", "Ctrl+C in the metadata panel"),
    ("Select a box", "Click it (or Tab / Shift+Tab)"),
    ("Move / resize a box", "Drag it / drag a corner handle (one undo step)"),
    ("Edit a box's numbers", "Double-click x, y, w or h in the Findings table"),
)


def package_version(name: str) -> str:
    """Installed version of a distribution without importing it ("not installed" if absent)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def versions() -> dict[str, str]:
    """Versions shown in the About box (torch is looked up, never imported)."""
    import pydicom
    import pyqtgraph
    import PySide6

    return {
        "PneumoView": package_version("pneumoview"),
        "Python": platform.python_version(),
        "Qt": QtCore.qVersion(),
        "PySide6": PySide6.__version__,
        "pydicom": pydicom.__version__,
        "pyqtgraph": pyqtgraph.__version__,
        "torch": package_version("torch"),
        "torchvision": package_version("torchvision"),
    }


def about_text() -> str:
    rows = "".join(f"<tr><td>{k}</td><td>&nbsp;{v}</td></tr>" for k, v in versions().items())
    return (
        "<h3>PneumoView</h3>"
        "<p>DICOM chest X-ray viewer with an embedded lung-opacity detector.<br>"
        "Not a medical device: for research and teaching.</p>"
        f"<table>{rows}</table>"
    )


def show_about(parent: QtWidgets.QWidget) -> None:
    QtWidgets.QMessageBox.about(parent, "About PneumoView", about_text())


def shortcut_rows(actions: list[QtGui.QAction]) -> list[tuple[str, str]]:
    """(action, keys) for every action that has a shortcut, then mouse gestures."""
    rows = []
    for action in actions:
        names: list[str] = []
        for sequence in action.shortcuts():
            # Qt names Shift+Tab "Shift+Backtab" (a second binding of the same key): the
            # reader presses Shift+Tab, so that is what is listed, once.
            name = sequence.toString(QtGui.QKeySequence.SequenceFormat.NativeText)
            name = name.replace("Backtab", "Tab")
            if name not in names:
                names.append(name)
        if names:
            rows.append((action.text().replace("&", ""), ", ".join(names)))
    return rows + list(MOUSE_AND_KEYS)


class ShortcutsDialog(QtWidgets.QDialog):
    def __init__(self, actions: list[QtGui.QAction], parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = shortcut_rows(actions)
        table = QtWidgets.QTableWidget(len(rows), 2)
        table.setObjectName("shortcuts_table")
        table.setHorizontalHeaderLabels(["Action", "Keys / mouse"])
        table.verticalHeader().hide()
        table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        for r, (name, keys) in enumerate(rows):
            table.setItem(r, 0, QtWidgets.QTableWidgetItem(name))
            item = QtWidgets.QTableWidgetItem(keys)
            item.setToolTip(keys)
            table.setItem(r, 1, item)
        # Long rows (window/level) wrap in the keys column instead of running off the edge.
        table.setWordWrap(True)
        table.setTextElideMode(QtCore.Qt.TextElideMode.ElideNone)
        table.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        header = table.horizontalHeader()
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QtWidgets.QHeaderView.ResizeMode.Stretch)
        header.sectionResized.connect(lambda *_a: table.resizeRowsToContents())
        table.resizeRowsToContents()
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(table)
        layout.addWidget(buttons)
        self.table = table
        self.resize(640, 560)
