"""Problems panel: files that could not be opened, each with its reason."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from detector.files.scan import Problem


class ProblemsPanel(QtWidgets.QWidget):
    """A two-column list (file, reason); the tooltip shows the full path.

    Signals
    -------
    count_changed(int)
    """

    count_changed = QtCore.Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("problems_panel")
        self.tree = QtWidgets.QTreeWidget()
        self.tree.setObjectName("problems_tree")
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["File", "Reason"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.header().resizeSection(0, 260)
        self.tree.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        copy = QtGui.QAction("Copy", self)
        copy.setShortcut(QtGui.QKeySequence.StandardKey.Copy)
        copy.setShortcutContext(QtCore.Qt.ShortcutContext.WidgetWithChildrenShortcut)
        copy.triggered.connect(self.copy_selected)
        self.tree.addAction(copy)
        self.tree.setContextMenuPolicy(QtCore.Qt.ContextMenuPolicy.ActionsContextMenu)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.tree)
        self._problems: list[Problem] = []

    @property
    def problems(self) -> list[Problem]:
        return list(self._problems)

    def add_problems(self, problems: list[Problem]) -> None:
        items = []
        for problem in problems:
            item = QtWidgets.QTreeWidgetItem([Path(problem.path).name, problem.reason])
            item.setToolTip(0, problem.path)
            item.setToolTip(1, problem.reason)
            items.append(item)
        self._problems.extend(problems)
        self.tree.addTopLevelItems(items)
        self.count_changed.emit(len(self._problems))

    def clear(self) -> None:
        self._problems.clear()
        self.tree.clear()
        self.count_changed.emit(0)

    def copy_selected(self) -> str:
        """Copy "path: reason" lines of the selected rows (all rows if none is selected)."""
        rows = [self.tree.indexOfTopLevelItem(i) for i in self.tree.selectedItems()]
        chosen = [self._problems[r] for r in sorted(rows)] if rows else self._problems
        text = "\n".join(str(p) for p in chosen)
        QtWidgets.QApplication.clipboard().setText(text)
        return text
