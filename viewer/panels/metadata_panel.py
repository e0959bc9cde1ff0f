"""Metadata panel: the current image's tags as a tree, with a filter and copy.

The overlay planes of the image on screen (groups 6000-601E) are listed first, one line per
plane (group, type, rows x columns, origin, description), under "Overlay planes".
"""

from __future__ import annotations

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from PySide6 import QtCore, QtGui, QtWidgets

from detector.imaging.overlays import Overlays
from viewer.canvas.overlay_layer import plane_text

#: Longest value text shown in the tree (the full value is copied).
MAX_VALUE_CHARS = 200
ROLE_FULL_VALUE = QtCore.Qt.ItemDataRole.UserRole + 1
ROLE_SEARCH = QtCore.Qt.ItemDataRole.UserRole + 2
COLUMNS = ("Tag", "Keyword", "VR", "Value")
#: Keyword column of the overlay planes' item.
OVERLAY_PLANES = "Overlay planes"


def tag_text(elem: DataElement) -> str:
    return f"({elem.tag.group:04X},{elem.tag.element:04X})"


def value_text(elem: DataElement) -> str:
    """The value as one line of text (bytes summarised, multi-values joined with ``\\``)."""
    if elem.VR == "SQ":
        n = len(elem.value)
        return f"<{n} item{'s' if n != 1 else ''}>"
    value = elem.value
    if value is None or value == "":
        return ""
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    if elem.VM > 1 and not isinstance(value, str):
        return "\\".join(str(v) for v in value)
    return str(value)


def keyword_text(elem: DataElement) -> str:
    if elem.tag.is_private:
        creator = getattr(elem, "private_creator", None)
        name = elem.name if elem.name and not elem.name.startswith("Private") else ""
        if creator:
            return f"[{creator}] {name}".strip() if name else f"[{creator}]"
        if elem.tag.element < 0x0100 and elem.tag.element >= 0x0010:
            return "Private Creator"
        return "Private tag (no creator)"
    return elem.keyword or elem.name


class MetadataPanel(QtWidgets.QWidget):
    """Dockable tag tree: tag, keyword, VR, value; nested sequences; filter box; copy value."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("metadata_panel")
        self.filter_edit = QtWidgets.QLineEdit()
        self.filter_edit.setPlaceholderText("Filter: tag (0010,0010 or 00100010), keyword or value")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.apply_filter)
        self.tree = QtWidgets.QTreeWidget()
        self.tree.setObjectName("metadata_tree")
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        header = self.tree.header()
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QtWidgets.QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(2, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.resizeSection(1, 150)
        self.tree.setContextMenuPolicy(QtCore.Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._on_tree_context_menu)
        self.copy_action = QtGui.QAction("Copy value", self)
        self.copy_action.setShortcut(QtGui.QKeySequence.StandardKey.Copy)
        self.copy_action.setShortcutContext(QtCore.Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.copy_action.triggered.connect(self.copy_value)
        self.tree.addAction(self.copy_action)
        self.count_label = QtWidgets.QLabel("")
        self.count_label.setStyleSheet("color: palette(mid);")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.filter_edit)
        layout.addWidget(self.tree)
        layout.addWidget(self.count_label)
        self._source = ""
        self._overlay_item: QtWidgets.QTreeWidgetItem | None = None

    def set_dataset(self, ds: Dataset | None, source: str = "") -> None:
        """Show the tags of ``ds`` (File Meta group first); ``None`` empties the tree."""
        self.tree.clear()
        self._overlay_item = None
        self._source = source
        if ds is None:
            self.count_label.setText("")
            return
        meta = getattr(ds, "file_meta", None)
        if meta is not None and len(meta):
            self._add_dataset(meta, None)
        self._add_dataset(ds, None)
        self.apply_filter(self.filter_edit.text())

    def set_overlays(self, overlays: Overlays) -> None:
        """List the overlay planes of the image on screen first (none: no entry)."""
        if self._overlay_item is not None:
            index = self.tree.indexOfTopLevelItem(self._overlay_item)
            if index >= 0:
                self.tree.takeTopLevelItem(index)
            self._overlay_item = None
        lines = [(f"({p.group:04X})", plane_text(p)) for p in overlays.planes]
        lines += [("", problem) for problem in overlays.problems]
        if not lines:
            return
        n = len(overlays.planes)
        top = QtWidgets.QTreeWidgetItem(
            ["", OVERLAY_PLANES, "", f"{n} plane{'s' if n != 1 else ''}"]
        )
        top.setData(0, ROLE_SEARCH, "overlay planes")
        for tag, text in lines:
            child = QtWidgets.QTreeWidgetItem([tag, "Overlay plane", "", text])
            child.setData(3, ROLE_FULL_VALUE, text)
            child.setData(0, ROLE_SEARCH, f"{tag} overlay plane {text}".lower())
            top.addChild(child)
        self.tree.insertTopLevelItem(0, top)
        top.setExpanded(True)
        self._overlay_item = top
        self.apply_filter(self.filter_edit.text())

    def overlay_lines(self) -> list[str]:
        """The overlay planes' lines as listed (used by tests)."""
        item = self._overlay_item
        if item is None:
            return []
        return [item.child(i).text(3) for i in range(item.childCount())]

    def _add_dataset(self, ds: Dataset, parent: QtWidgets.QTreeWidgetItem | None) -> None:
        items = []
        for elem in ds:
            try:
                value = value_text(elem)
            except Exception as exc:  # noqa: BLE001 - show damaged values, don't drop the tree
                value = f"<cannot be read: {exc}>"
            shown = value if len(value) <= MAX_VALUE_CHARS else value[: MAX_VALUE_CHARS - 3] + "..."
            item = QtWidgets.QTreeWidgetItem([tag_text(elem), keyword_text(elem), elem.VR, shown])
            item.setData(3, ROLE_FULL_VALUE, value)
            tag_hex = f"{elem.tag.group:04X}{elem.tag.element:04X}"
            search = " ".join(
                (
                    tag_text(elem),
                    tag_hex,
                    f"{elem.tag.group:04X},{elem.tag.element:04X}",
                    keyword_text(elem),
                    value,
                )
            )
            item.setData(0, ROLE_SEARCH, search.lower())
            if elem.tag.is_private:
                item.setForeground(1, QtGui.QBrush(QtGui.QColor("#8e6fd8")))
            if elem.VR == "SQ":
                for i, child in enumerate(elem.value):
                    seq_item = QtWidgets.QTreeWidgetItem(["", f"Item {i + 1}", "", ""])
                    seq_item.setData(0, ROLE_SEARCH, f"item {i + 1}")
                    item.addChild(seq_item)
                    self._add_dataset(child, seq_item)
            items.append(item)
        if parent is None:
            self.tree.addTopLevelItems(items)
        else:
            parent.addChildren(items)

    def apply_filter(self, text: str) -> None:
        """Show items whose tag, keyword or value contains ``text`` (and their parents)."""
        needle = text.strip().lower()
        shown = 0

        def visit(item: QtWidgets.QTreeWidgetItem, parent_match: bool) -> bool:
            nonlocal shown
            search = str(item.data(0, ROLE_SEARCH) or "")
            match = not needle or needle in search
            any_child = False
            for i in range(item.childCount()):
                any_child |= visit(item.child(i), parent_match or match)
            visible = match or any_child or parent_match
            item.setHidden(not visible)
            if needle and any_child:
                item.setExpanded(True)
            if visible and match and item.data(3, ROLE_FULL_VALUE) is not None:
                shown += 1
            return match or any_child

        for i in range(self.tree.topLevelItemCount()):
            visit(self.tree.topLevelItem(i), False)
        self.count_label.setText(f"{shown} tags" + (f" match '{text.strip()}'" if needle else ""))

    def visible_keywords(self) -> list[str]:
        """Keywords of all visible items (depth first); used by tests and the status bar."""
        out: list[str] = []

        def visit(item: QtWidgets.QTreeWidgetItem) -> None:
            if item.isHidden():
                return
            out.append(item.text(1))
            for i in range(item.childCount()):
                visit(item.child(i))

        for i in range(self.tree.topLevelItemCount()):
            visit(self.tree.topLevelItem(i))
        return out

    def copy_value(self) -> str:
        """Copy the selected item's full value to the clipboard; returns it."""
        item = self.tree.currentItem()
        if item is None:
            return ""
        value = str(item.data(3, ROLE_FULL_VALUE) or "")
        QtWidgets.QApplication.clipboard().setText(value)
        return value

    def _on_tree_context_menu(self, pos: QtCore.QPoint) -> None:
        item = self.tree.itemAt(pos)
        if item is None:
            return
        menu = QtWidgets.QMenu(self)
        menu.addAction(self.copy_action)
        copy_tag = menu.addAction("Copy tag")
        chosen = menu.exec(self.tree.viewport().mapToGlobal(pos))
        if chosen is copy_tag:
            QtWidgets.QApplication.clipboard().setText(item.text(0))
