"""Study browser: Patient > Study > Series > Image tree with thumbnails and reviewed marks.

A patient with one image (one study, one series, one instance: the usual chest X-ray
worklist) is ONE row: the image's thumbnail, the patient's name and id and the study date. A
patient's row becomes the full hierarchy once a second image of that patient is opened.
"""

from __future__ import annotations

import bisect
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from detector.files.scan import Instance, Patient, Series, Study, group_keys
from viewer.canvas.overlay_text import format_date, format_name
from viewer.state import ViewerState, instance_key, patient_key, series_key, study_key

ROLE_INSTANCE = QtCore.Qt.ItemDataRole.UserRole + 1
REVIEWED_MARK = "\u2713"

_NAV_KEYS = {
    QtCore.Qt.Key.Key_Up: -1,
    QtCore.Qt.Key.Key_Down: 1,
    QtCore.Qt.Key.Key_PageUp: -1,
    QtCore.Qt.Key.Key_PageDown: 1,
}


class StudyBrowser(QtWidgets.QTreeWidget):
    """Tree of open images, kept in the same order as :meth:`ViewerState.images`.

    Signals
    -------
    instance_selected(object)
        The user picked an image (or a series/study/patient: its first image).
    navigate_requested(int)
        Up/Down/PageUp/PageDown (+1/-1) and Home/End (``-2**31`` / ``2**31``) pressed here.
    """

    instance_selected = QtCore.Signal(object)
    navigate_requested = QtCore.Signal(int)

    def __init__(self, state: ViewerState, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setObjectName("study_browser")
        self.setColumnCount(2)
        self.setHeaderLabels(["Patient / study / series / image", REVIEWED_MARK])
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QtWidgets.QHeaderView.ResizeMode.Fixed)
        header.resizeSection(1, 28)
        self.setIconSize(QtCore.QSize(48, 48))
        self.setUniformRowHeights(False)
        self.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self._groups: dict[tuple[str, ...], QtWidgets.QTreeWidgetItem] = {}
        self._child_keys: dict[int, list[tuple[Any, ...]]] = {}
        self._by_path: dict[str, QtWidgets.QTreeWidgetItem] = {}
        self._by_uid: dict[str, list[QtWidgets.QTreeWidgetItem]] = {}
        self._series_icon_set: set[tuple[str, ...]] = set()
        #: patientId -> the image items of that patient (in the order added).
        self._patient_items: dict[str, list[QtWidgets.QTreeWidgetItem]] = {}
        #: patientId -> its one image's item, shown as a single top-level row.
        self._flat: dict[str, QtWidgets.QTreeWidgetItem] = {}
        self._syncing = False
        self.currentItemChanged.connect(self._on_current_item_changed)
        state.images_added.connect(self.add_instances)
        state.cleared.connect(self.clear_all)
        state.current_changed.connect(self.select_instance)
        state.reviewed_changed.connect(self._on_state_reviewed_changed)

    # -- building ---------------------------------------------------------------------------

    def clear_all(self) -> None:
        self.clear()
        self._groups.clear()
        self._child_keys.clear()
        self._by_path.clear()
        self._by_uid.clear()
        self._series_icon_set.clear()
        self._patient_items.clear()
        self._flat.clear()

    def _insert(
        self,
        parent: QtWidgets.QTreeWidgetItem | None,
        key: tuple[Any, ...],
        item: QtWidgets.QTreeWidgetItem,
    ) -> None:
        keys = self._child_keys.setdefault(id(parent) if parent is not None else 0, [])
        pos = bisect.bisect_right(keys, key)
        keys.insert(pos, key)
        if parent is None:
            self.insertTopLevelItem(pos, item)
        else:
            parent.insertChild(pos, item)

    def _group(
        self,
        key: tuple[str, ...],
        parent: QtWidgets.QTreeWidgetItem | None,
        sort_key: tuple[Any, ...],
        text: str,
    ) -> QtWidgets.QTreeWidgetItem:
        item = self._groups.get(key)
        if item is None:
            item = QtWidgets.QTreeWidgetItem([text, ""])
            item.setFlags(item.flags() & ~QtCore.Qt.ItemFlag.ItemIsDragEnabled)
            self._groups[key] = item
            self._insert(parent, sort_key, item)
            item.setExpanded(True)
        return item

    def add_instances(self, instances: list[Instance]) -> None:
        """Insert newly found images at their sorted places."""
        touched: dict[str, None] = {}
        for inst in instances:
            pid = group_keys(inst.header)[0]
            item = QtWidgets.QTreeWidgetItem([self._instance_text(inst), ""])
            item.setData(0, ROLE_INSTANCE, inst)
            item.setToolTip(0, inst.path)
            self._by_path[inst.path] = item
            self._by_uid.setdefault(inst.sop_instance_uid, []).append(item)
            self._patient_items.setdefault(pid, []).append(item)
            if self.state.is_reviewed(inst):
                item.setText(1, REVIEWED_MARK)
            touched[pid] = None
        touched_series: set[tuple[str, ...]] = set()
        for pid in touched:
            items = self._patient_items[pid]
            if len(items) == 1 and (pid,) not in self._groups:
                self._place_flat(pid, items[0])
                continue
            flat = self._flat.pop(pid, None)
            if flat is not None:
                self._take_top_level(flat)
            for item in items:
                if item.parent() is None:
                    touched_series.add(self._place_in_tree(item))
        for key in touched_series:
            pid, study_uid, series_uid = key
            series = self.state.result.patients[pid].studies[study_uid].series[series_uid]
            self._groups[key].setText(0, self._series_text(series))
            self._update_series_icon(self._groups[key])
        current = self.state.current
        if current is not None and self.currentItem() is not self.item_for(current):
            self.select_instance(current)

    def _place_flat(self, pid: str, item: QtWidgets.QTreeWidgetItem) -> None:
        """Show a patient's only image as one top-level row (thumbnail, patient, date)."""
        inst: Instance = item.data(0, ROLE_INSTANCE)
        patient: Patient = self.state.result.patients[pid]
        study: Study = patient.studies[group_keys(inst.header)[1]]
        frames = f"  [{inst.n_frames} frames]" if inst.n_frames > 1 else ""
        item.setText(0, f"{self._patient_text(patient)}  {self._study_text(study)}{frames}")
        self._flat[pid] = item
        self._insert(None, patient_key(patient), item)

    def _take_top_level(self, item: QtWidgets.QTreeWidgetItem) -> None:
        """Remove a one-image row from the top level (its patient now has more images)."""
        pos = self.indexOfTopLevelItem(item)
        if pos < 0:
            return
        self._child_keys.get(0, []).pop(pos)
        self._syncing = True  # the current row moving is not the reader picking another image
        try:
            self.takeTopLevelItem(pos)
        finally:
            self._syncing = False
        item.setText(0, self._instance_text(item.data(0, ROLE_INSTANCE)))

    def _place_in_tree(self, item: QtWidgets.QTreeWidgetItem) -> tuple[str, ...]:
        """Put an image item under its patient > study > series rows; returns the series key."""
        inst: Instance = item.data(0, ROLE_INSTANCE)
        pid, study_uid, series_uid = group_keys(inst.header)
        patient: Patient = self.state.result.patients[pid]
        study: Study = patient.studies[study_uid]
        series: Series = study.series[series_uid]
        p_item = self._group((pid,), None, patient_key(patient), self._patient_text(patient))
        s_item = self._group((pid, study_uid), p_item, study_key(study), self._study_text(study))
        key = (pid, study_uid, series_uid)
        se_item = self._group(key, s_item, series_key(series), "")
        self._insert(se_item, instance_key(inst), item)
        return key

    @staticmethod
    def _patient_text(patient: Patient) -> str:
        name = format_name(patient.name) if patient.name else "(no name)"
        return f"{name}  [{patient.patient_id}]"

    @staticmethod
    def _study_text(study: Study) -> str:
        parts = [format_date(study.date) or "(no date)", study.description]
        return "  ".join(p for p in parts if p)

    @staticmethod
    def _series_text(series: Series) -> str:
        count = sum(1 for i in series.instances if i.is_image)
        number = f"Series {series.number}" if series.number is not None else "Series"
        parts = [series.modality, number, series.description, f"({count})"]
        return "  ".join(p for p in parts if p)

    @staticmethod
    def _instance_text(inst: Instance) -> str:
        number = f"Im {inst.instance_number}" if inst.instance_number is not None else "Im -"
        frames = f"  [{inst.n_frames} frames]" if inst.n_frames > 1 else ""
        return f"{number}  {inst.name}{frames}"

    # -- thumbnails and marks ---------------------------------------------------------------

    def set_thumbnail(self, path: str, icon: QtGui.QIcon) -> None:
        item = self._by_path.get(path)
        if item is None:
            return
        item.setIcon(0, icon)
        self._update_series_icon(item.parent())

    @staticmethod
    def _update_series_icon(series_item: QtWidgets.QTreeWidgetItem | None) -> None:
        """A series row shows its first image's thumbnail once it holds several images (a
        one-image series would only repeat the image row's thumbnail)."""
        if series_item is None:
            return
        if series_item.childCount() > 1:
            series_item.setIcon(0, series_item.child(0).icon(0))

    def set_thumbnail_failed(self, path: str, reason: str) -> None:
        item = self._by_path.get(path)
        if item is not None:
            item.setToolTip(0, f"{path}\n{reason}")
            item.setForeground(0, QtGui.QBrush(QtGui.QColor("#d9822b")))

    def item_for(self, inst: Instance) -> QtWidgets.QTreeWidgetItem | None:
        return self._by_path.get(inst.path)

    def _on_state_reviewed_changed(self, uid: str, reviewed: bool) -> None:
        for item in self._by_uid.get(uid, []):
            item.setText(1, REVIEWED_MARK if reviewed else "")

    # -- selection and keys -----------------------------------------------------------------

    def select_instance(self, inst: Instance | None) -> None:
        """Highlight ``inst`` (called when the state's current image changes)."""
        item = self._by_path.get(inst.path) if inst is not None else None
        self._syncing = True
        try:
            if item is None:
                self.setCurrentItem(None)
            else:
                self.setCurrentItem(item)
                self.scrollToItem(item)
        finally:
            self._syncing = False

    def _first_image(self, item: QtWidgets.QTreeWidgetItem) -> Instance | None:
        while item.childCount() and item.data(0, ROLE_INSTANCE) is None:
            item = item.child(0)
        inst = item.data(0, ROLE_INSTANCE)
        return inst if isinstance(inst, Instance) else None

    def _on_current_item_changed(self, current, _previous) -> None:
        if self._syncing or current is None:
            return
        inst = self._first_image(current)
        if inst is not None:
            self.instance_selected.emit(inst)

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:  # noqa: N802 - Qt override
        key = event.key()
        if key in _NAV_KEYS and not event.modifiers():
            self.navigate_requested.emit(_NAV_KEYS[QtCore.Qt.Key(key)])
            event.accept()
            return
        if key == QtCore.Qt.Key.Key_Home:
            self.navigate_requested.emit(-(2**31))
            event.accept()
            return
        if key == QtCore.Qt.Key.Key_End:
            self.navigate_requested.emit(2**31)
            event.accept()
            return
        super().keyPressEvent(event)
