"""The Findings panel: the current image's boxes as a table, the GT-vs-prediction comparison and
that image's RSNA score, each box's label and "equivocal" flag, and a note on the image.

The table follows the canvas selection and drives it; editing x, y, w or h moves the box through
the review model (one undo step), and so does picking a label, ticking "equivocal" or saving
the note (Enter, or leaving the field). It is rebuilt from the model, never edited in place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from PySide6 import QtCore, QtGui, QtWidgets

from detector.review import BoxKind, BoxStatus, ReviewBox, ReviewState
from detector.review.records import EQUIVOCAL, MAX_NOTE, status_text
from viewer.canvas.box_layers import COLOURS, BoxLayers

COLUMNS = ("kind", "score", "x", "y", "w", "h", "status", "label", "equivocal")
#: Columns the reader may edit (x, y, w, h).
GEOMETRY_COLUMNS = (2, 3, 4, 5)
#: The label (a combo box of the session's label set) and "equivocal" (a check box) columns.
LABEL_COLUMN, FLAG_COLUMN = 7, 8
KIND_TEXT = {
    BoxKind.GROUND_TRUTH: "ground truth",
    BoxKind.PREDICTION: "prediction",
    BoxKind.REVIEWER: "reviewer",
}
BOX_ID_ROLE = QtCore.Qt.ItemDataRole.UserRole + 1
_NOTE_KEYS = (QtCore.Qt.Key.Key_Return, QtCore.Qt.Key.Key_Enter, QtCore.Qt.Key.Key_Escape)


class FindingsSource(Protocol):
    """What the panel reads and edits: the review of the open images (the review controller)."""

    @property
    def review(self) -> ReviewState: ...
    @property
    def threshold(self) -> float: ...
    @property
    def iou_threshold(self) -> float: ...
    def shown_key(self) -> str | None: ...
    def review_progress(self) -> tuple[int, int]: ...
    def rsna_score(self, key: str) -> float | None: ...
    def move_box(self, box_id: str, xyxy: Sequence[float]) -> None: ...
    def edit(self, action: Callable[..., Any], *args: Any) -> Any: ...
    def set_compare(self, on: bool, iou_threshold: float | None = None) -> None: ...


class FindingsPanel(QtWidgets.QWidget):
    """Boxes of the image on screen, with comparison controls and the image's RSNA score.

    The owner calls :meth:`refresh` when the review changes and :meth:`show_compare` when the
    comparison is switched elsewhere (its key); the panel follows the canvas selection itself.
    """

    def __init__(
        self,
        review: FindingsSource,
        layers: BoxLayers,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.review = review
        self.layers = layers
        self._updating = False
        self._shown: object = None
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)

        row = QtWidgets.QHBoxLayout()
        self.compare_check = QtWidgets.QCheckBox("Compare with ground truth at IoU")
        self.compare_check.setObjectName("compare_check")
        self.iou_spin = QtWidgets.QDoubleSpinBox()
        self.iou_spin.setObjectName("iou_spin")
        self.iou_spin.setRange(0.05, 0.95)
        self.iou_spin.setSingleStep(0.05)
        self.iou_spin.setDecimals(2)
        self.iou_spin.setValue(review.iou_threshold)
        row.addWidget(self.compare_check)
        row.addWidget(self.iou_spin)
        row.addStretch(1)
        layout.addLayout(row)
        self.score_label = QtWidgets.QLabel("")
        self.score_label.setObjectName("rsna_score")
        self.score_label.setWordWrap(True)
        layout.addWidget(self.score_label)

        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("findings_table")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(
            QtWidgets.QAbstractItemView.EditTrigger.DoubleClicked
            | QtWidgets.QAbstractItemView.EditTrigger.EditKeyPressed
        )
        self.table.horizontalHeader().setSectionResizeMode(
            QtWidgets.QHeaderView.ResizeMode.ResizeToContents
        )
        layout.addWidget(self.table, 1)
        self.note_edit = QtWidgets.QLineEdit()
        self.note_edit.setObjectName("image_note")
        self.note_edit.setPlaceholderText("Note on this image (Enter saves it)")
        self.note_edit.setMaxLength(MAX_NOTE)
        self.note_edit.setToolTip("Free text, kept in the session and in the audit export")
        self._note_key: str | None = None
        layout.addWidget(self.note_edit)

        self.compare_check.toggled.connect(self._on_compare)
        self.iou_spin.valueChanged.connect(self._on_compare)
        self.table.itemSelectionChanged.connect(self._on_table_selection)
        self.table.itemChanged.connect(self._on_item_changed)
        self.note_edit.editingFinished.connect(self._on_note_edited)
        self.note_edit.installEventFilter(self)
        layers.selected.connect(self._select_row)

    # -- model -> table ---------------------------------------------------------------------

    def boxes(self) -> list[ReviewBox]:
        """What the table lists: the image's boxes, its predictions (proposed or rejected) at or
        above the threshold."""
        key = self.review.shown_key()
        if key is None:
            return []
        thr = self.review.threshold
        return [
            b
            for b in self.review.review.boxes(key)
            if b.status is not BoxStatus.DELETED
            and not (b.kind is BoxKind.PREDICTION and b.score is not None and b.score < thr)
            and not self.review.review.superseded(b)
        ]

    def refresh(self) -> None:
        self._sync_note()
        boxes = self.boxes()
        key = self.review.shown_key()
        labels = self.review.review.label_set()
        # Which accepted prediction confirms which ground-truth box, at the compare IoU.
        confirmed = (
            {} if key is None else self.review.review.confirmations(key, self.review.iou_threshold)
        )
        confirming = set(confirmed.values())
        signature = (
            tuple(boxes),
            self.review.threshold,
            self.review.review_progress(),
            tuple(confirmed.items()),
            tuple(labels),
        )
        if signature == self._shown:
            return  # another image changed: nothing to redraw here
        self._shown = signature
        self._updating = True
        try:
            self.table.setRowCount(len(boxes))
            for r, box in enumerate(boxes):
                x, y, w, h = box.xywh
                score = "" if box.score is None else f"{box.score:.2f}"
                status = status_text(
                    box, confirmed=box.id in confirmed, confirms=box.id in confirming
                )
                values = (KIND_TEXT[box.kind], score, x, y, w, h, status)
                for c, value in enumerate(values):
                    item = QtWidgets.QTableWidgetItem()
                    if isinstance(value, float):
                        item.setData(QtCore.Qt.ItemDataRole.EditRole, round(value, 1))
                    else:
                        item.setText(value)
                    item.setData(BOX_ID_ROLE, box.id)
                    flags = QtCore.Qt.ItemFlag.ItemIsSelectable | QtCore.Qt.ItemFlag.ItemIsEnabled
                    if c in GEOMETRY_COLUMNS and box.active:
                        flags |= QtCore.Qt.ItemFlag.ItemIsEditable
                    item.setFlags(flags)
                    if c == 0:
                        item.setForeground(QtGui.QColor(COLOURS[box.kind.value]))
                    if not box.active:
                        item.setForeground(QtGui.QColor("#888888"))
                    self.table.setItem(r, c, item)
                self._add_box_widgets(r, box, labels)
            self._select_row(self.layers.selected_id)
        finally:
            self._updating = False
        self._update_score()

    def _add_box_widgets(self, row: int, box: ReviewBox, labels: list[str]) -> None:
        """The label combo box and the "equivocal" check box of one row."""
        combo = QtWidgets.QComboBox()
        combo.setObjectName(f"label_{box.id}")
        combo.addItems(labels)
        combo.setCurrentText(box.label)
        combo.setEnabled(box.active)
        combo.textActivated.connect(
            lambda text, box_id=box.id: self._edit_box(box_id, "set_box_label", text)
        )
        self.table.setCellWidget(row, LABEL_COLUMN, combo)
        check = QtWidgets.QCheckBox()
        check.setObjectName(f"equivocal_{box.id}")
        check.setChecked(box.flag == EQUIVOCAL)
        check.setEnabled(box.active)
        check.setToolTip("Flag this finding as equivocal")
        check.clicked.connect(
            lambda on, box_id=box.id: self._edit_box(
                box_id, "set_box_flag", EQUIVOCAL if on else ""
            )
        )
        self.table.setCellWidget(row, FLAG_COLUMN, check)

    def _edit_box(self, box_id: str, method: str, value: str) -> None:
        self.layers.select(box_id)
        self.review.edit(getattr(self.review.review, method), box_id, value)
        self._shown = None
        self.refresh()  # a refused edit shows the model's value again

    def _sync_note(self) -> None:
        """Show the note of the image on screen; a note being typed is saved to its own image
        before another image's note replaces it."""
        key = self.review.shown_key()
        images = self.review.review.images
        if key != self._note_key:
            self._on_note_edited()
            self._note_key = key
        elif self.note_edit.isModified():
            return  # the reader is typing: an undo elsewhere does not overwrite it
        self.note_edit.setText(images[key].note if key in images else "")
        self.note_edit.setEnabled(key in images)

    def _on_note_edited(self) -> None:
        key = self._note_key
        if not self.note_edit.isModified() or key is None:
            return
        self.note_edit.setModified(False)
        if key in self.review.review.images:
            self.review.edit(self.review.review.set_image_note, key, self.note_edit.text())
        self._sync_note()

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802
        """Enter and Esc in the note field are the field's (not Accept's, not the window's):
        Enter saves the note, Esc puts the saved one back and leaves the field."""
        if watched is self.note_edit and isinstance(event, QtGui.QKeyEvent):
            kind = event.type()
            if event.key() in _NOTE_KEYS and kind == QtCore.QEvent.Type.ShortcutOverride:
                event.accept()
                return True
            if event.key() == QtCore.Qt.Key.Key_Escape and kind == QtCore.QEvent.Type.KeyPress:
                self.note_edit.setModified(False)
                self._sync_note()
                self.note_edit.clearFocus()
                return True
        return super().eventFilter(watched, event)

    def _update_score(self) -> None:
        key = self.review.shown_key()
        if key is None:
            self.score_label.setText("")
            return
        score = self.review.rsna_score(key)
        thr = self.review.threshold
        text = (
            f"RSNA score of this image: {score:.3f} (predictions \u2265 {thr:.2f})"
            if score is not None
            else "RSNA score of this image: - (no ground truth and no predictions)"
        )
        done, total = self.review.review_progress()
        self.score_label.setText(f"{text}\n{done} of {total} reviewed")

    def _select_row(self, box_id: object) -> None:
        was, self._updating = self._updating, True
        try:
            for r in range(self.table.rowCount()):
                item = self.table.item(r, 0)
                if item is not None and item.data(BOX_ID_ROLE) == box_id:
                    self.table.selectRow(r)
                    return
            self.table.clearSelection()
        finally:
            self._updating = was

    # -- table -> model ---------------------------------------------------------------------

    def _on_table_selection(self) -> None:
        if self._updating:
            return
        rows = self.table.selectionModel().selectedRows()
        if rows:
            item = self.table.item(rows[0].row(), 0)
            self.layers.select(item.data(BOX_ID_ROLE) if item is not None else None)

    def _on_item_changed(self, item: QtWidgets.QTableWidgetItem) -> None:
        if self._updating or item.column() not in GEOMETRY_COLUMNS:
            return
        r = item.row()
        try:
            x, y, w, h = (
                float(self.table.item(r, c).data(QtCore.Qt.ItemDataRole.EditRole))
                for c in GEOMETRY_COLUMNS
            )
        except (TypeError, ValueError, AttributeError):
            self._shown = None
            self.refresh()
            return
        box_id = str(item.data(BOX_ID_ROLE))
        self.layers.select(box_id)
        self.review.move_box(box_id, (x, y, x + w, y + h))
        self._shown = None
        self.refresh()  # a refused edit shows the model's geometry again

    def show_compare(self, on: bool) -> None:
        blocked = self.compare_check.blockSignals(True)
        self.compare_check.setChecked(on)
        self.compare_check.blockSignals(blocked)

    def _on_compare(self, *_args: object) -> None:
        self.review.set_compare(self.compare_check.isChecked(), self.iou_spin.value())
