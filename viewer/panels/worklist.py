"""The Worklist: every open image with its review status and what the model found.

The order and the filter are :class:`detector.review.worklist.WorklistView`'s rule, held by the
review controller (``review.worklist``), so Space ("next unreviewed") and the "next in
worklist" keys follow what the table lists. The row of the image on screen is always the
current row, found by its key after every rebuild (edit, sort, filter, image change); moving
the current row (click, Up/Down) opens that image. Double-click or Enter opens it and gives the
keyboard to the image; Esc gives it back too. Header clicks sort (counts high first on the
first click); an image with no prediction has the lowest "max". The toolbar toggle (**Shift+U**)
switches between load order and "most informative first"
(:mod:`detector.review.informative`); **U** opens the next most informative unreviewed image
whichever order the table shows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from PySide6 import QtCore, QtGui, QtWidgets

from detector.files.scan import Instance
from detector.review import ReviewState
from detector.review.worklist import (
    FILTERS,
    INFORMATIVE,
    ORDERS,
    SORT_COLUMNS,
    WorklistRow,
    WorklistView,
    next_unreviewed,
    step_in_order,
)
from viewer.review.keys import STATUS_MARKS, STATUS_TEXT, key_for
from viewer.state import ViewerState

COLUMNS = SORT_COLUMNS
#: Short headers: the counts fit beside the id in a narrow dock (the tooltips say more).
HEADERS = ("patientId", "\u2713", "pred", "max", "\u0394", "GT")
TOOLTIPS = (
    "patientId (file name); sorted: load order",
    "review status: \u2713 reviewed, \u2026 in progress, \u2205 no opacity, blank unreviewed",
    "predictions at the threshold",
    "highest prediction score (none = lowest)",
    "disagreement: ground-truth and predicted boxes left unmatched at the comparison IoU",
    "ground-truth boxes",
)
ARROWS = {False: "\u25b2", True: "\u25bc"}
KEY_ROLE = QtCore.Qt.ItemDataRole.UserRole + 1
#: Columns whose first header click sorts high values first.
DESCENDING_FIRST = frozenset({"pred.", "max", "disagree", "GT"})
#: (attribute, menu text, keys) of the worklist keys; none is a key of the review contract
#: (:data:`viewer.review.actions.REVIEW_KEYS`).
WORKLIST_KEYS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("act_worklist_next", "Next image in the &worklist", ("Ctrl+Down",)),
    ("act_worklist_prev", "Previous image in the worklist", ("Ctrl+Up",)),
    ("act_worklist_jump", "&Jump to patientId...", ("Ctrl+J",)),
    ("act_worklist_informative", "Next most &informative unreviewed image", ("U",)),
)
#: What the order toggle's states are called (the progress line says which one is on).
ORDER_TEXT = {"image": "load order", INFORMATIVE: "most informative first"}
_OWN_KEYS = (QtCore.Qt.Key.Key_Return, QtCore.Qt.Key.Key_Enter, QtCore.Qt.Key.Key_Escape)


class WorklistSource(Protocol):
    """What the worklist reads: the review of the open images (the review controller)."""

    @property
    def review(self) -> ReviewState: ...
    @property
    def worklist(self) -> WorklistView: ...
    def worklist_rows(self, view: WorklistView | None = None) -> list[WorklistRow]: ...
    def review_progress(self) -> tuple[int, int]: ...
    def instance_for(self, key: str) -> Instance | None: ...


class _KeysToWidget(QtCore.QObject):
    """Enter and Esc go to the table / jump field, not to the window's review shortcuts.

    Esc gives the keyboard back to the image (``on_escape``).
    """

    def __init__(self, on_escape: Callable[[], object], parent: QtCore.QObject) -> None:
        super().__init__(parent)
        self.on_escape = on_escape

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802
        kind = event.type()
        if kind in (QtCore.QEvent.Type.ShortcutOverride, QtCore.QEvent.Type.KeyPress):
            key_event = event if isinstance(event, QtGui.QKeyEvent) else None
            if key_event is not None and key_event.key() in _OWN_KEYS:
                if kind == QtCore.QEvent.Type.ShortcutOverride:
                    event.accept()
                    return True
                if key_event.key() == QtCore.Qt.Key.Key_Escape:
                    self.on_escape()
                    return True
        return False


class WorklistPanel(QtWidgets.QWidget):
    """All open images with status, predictions, max score and disagreement, sorted and filtered.

    Parameters
    ----------
    state : ViewerState
        The open images; an opened row becomes its current image.
    review : WorklistSource
        The review and the worklist's rule (the review controller).
    focus_image : callable, optional
        Gives the keyboard to the image (after an image is opened from the list, or Esc).
    show_message : callable, optional
        Shows a one-line message (the status bar).

    Signals
    -------
    order_changed(str)
        The toggle's order changed: ``"informative"``, or ``"image"`` when it was switched
        off (by the toggle or by a header click).
    """

    order_changed = QtCore.Signal(str)

    def __init__(
        self,
        state: ViewerState,
        review: WorklistSource,
        parent: QtWidgets.QWidget | None = None,
        *,
        focus_image: Callable[[], object] | None = None,
        show_message: Callable[[str], object] | None = None,
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.review = review
        self.focus_image = focus_image or (lambda: None)
        self.show_message = show_message or (lambda _text: None)
        self._syncing = False
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.progress_label = QtWidgets.QLabel("")
        self.progress_label.setObjectName("review_progress")
        layout.addWidget(self.progress_label)
        self.filter_combo = QtWidgets.QComboBox()
        self.filter_combo.setObjectName("worklist_filter")
        self.filter_combo.addItems(list(FILTERS))
        self.filter_combo.setToolTip("Which images the worklist lists (Space follows it)")
        self.filter_combo.currentTextChanged.connect(self._on_filter_combo_changed)
        self.jump_edit = QtWidgets.QLineEdit()
        self.jump_edit.setObjectName("worklist_jump")
        self.jump_edit.setPlaceholderText("Jump to patientId (Ctrl+J)")
        self.jump_edit.setClearButtonEnabled(True)
        self._ids = QtCore.QStringListModel(self)
        completer = QtWidgets.QCompleter(self._ids, self.jump_edit)
        completer.setCaseSensitivity(QtCore.Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(QtCore.Qt.MatchFlag.MatchContains)
        self.jump_edit.setCompleter(completer)
        self.jump_edit.returnPressed.connect(self._on_jump_edit_return_pressed)
        form = QtWidgets.QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Show", self.filter_combo)
        form.addRow("Go to", self.jump_edit)
        layout.addLayout(form)
        self.table = self._make_table()
        self._show_sort()
        layout.addWidget(self.table, 1)
        keys = _KeysToWidget(self.focus_image, self)
        self.table.installEventFilter(keys)
        self.jump_edit.installEventFilter(keys)
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)
        self._timer.timeout.connect(self.refresh)
        state.current_changed.connect(self._on_state_current_changed)

    def _make_table(self) -> QtWidgets.QTableWidget:
        table = QtWidgets.QTableWidget(0, len(COLUMNS))
        table.setObjectName("worklist_table")
        table.setHorizontalHeaderLabels(list(HEADERS))
        for c, tip in enumerate(TOOLTIPS):
            table.horizontalHeaderItem(c).setToolTip(tip)
        table.verticalHeader().hide()
        table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        table.setTextElideMode(QtCore.Qt.TextElideMode.ElideMiddle)
        header = table.horizontalHeader()
        # The id takes what is left (elided in the middle): the counts always show.
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(20)
        # The worklist's rule sorts, not Qt: the header only picks the column, and an arrow in
        # its text (Qt's sort indicator would widen every column) shows the order.
        table.setSortingEnabled(False)
        header.setSectionsClickable(True)
        header.sectionClicked.connect(self._on_header_section_clicked)
        self.setMinimumWidth(200)
        table.itemActivated.connect(self._on_table_item_activated)
        table.currentCellChanged.connect(self._on_table_current_cell_changed)
        return table

    # -- keys -------------------------------------------------------------------------------

    def build_actions(self, add: Callable[..., QtGui.QAction]) -> None:
        """Make the worklist's actions (:data:`WORKLIST_KEYS`) with the window's factory."""
        slots: dict[str, Callable[[], object]] = {
            "act_worklist_next": lambda: self.step(1),
            "act_worklist_prev": lambda: self.step(-1),
            "act_worklist_jump": self.start_jump,
            "act_worklist_informative": self.next_informative,
        }
        self.key_actions: list[QtGui.QAction] = []
        for name, text, keys in WORKLIST_KEYS:
            action = add(text, slots[name], list(keys))
            setattr(self, name, action)
            self.key_actions.append(action)
        self.act_worklist_order = add(
            "Worklist: &most informative first",
            lambda on: self.set_order(INFORMATIVE if on else "image"),
            ["Shift+U"],
            checkable=True,
            tip="Order the worklist (and Space) by what the model is least sure of; "
            "off: load order",
        )
        self.act_worklist_order.setIconText("Informative first")
        self.act_worklist_order.setObjectName("act_worklist_order")
        self.act_worklist_order.setChecked(self.review.worklist.column == INFORMATIVE)
        self.key_actions.append(self.act_worklist_order)

    def set_order(self, order: str) -> None:
        """Show the worklist in load order (``"image"``) or most informative first.

        Emits :attr:`order_changed` when the order changes; another value is ignored (it comes
        from an untrusted session file).
        """
        if order not in ORDERS:
            return
        view = self.review.worklist
        changed = view.column != order or view.descending
        view.column, view.descending = order, False
        self._after_sort_change()
        if changed:
            self.order_changed.emit(order)

    def next_informative(self) -> None:
        """**U**: open the next unreviewed image in the most-informative-first order.

        Every open image is considered (whatever the table's sort and filter): after the
        image on screen in that order, wrapping to the top.
        """
        rows = self.review.worklist_rows(WorklistView(INFORMATIVE))
        key = next_unreviewed(rows, self._shown_key())
        if key is None:
            self.show_message("No unreviewed image left")
            return
        self._open_key(key)

    def step(self, step: int) -> None:
        """Open the image ``step`` rows away in the worklist (**Ctrl+Down** / **Ctrl+Up**)."""
        keys = [row.key for row in self.review.worklist_rows()]
        key = step_in_order(keys, self._shown_key(), step)
        if key is None:
            self.show_message("End of the worklist" if step > 0 else "Top of the worklist")
            return
        self._open_key(key)

    def start_jump(self) -> None:
        """**Ctrl+J**: show the worklist and put the keyboard in the patientId field."""
        dock = self.parentWidget()
        if isinstance(dock, QtWidgets.QDockWidget):
            dock.show()
            dock.raise_()
        self.jump_edit.setFocus(QtCore.Qt.FocusReason.ShortcutFocusReason)
        self.jump_edit.selectAll()

    def _on_jump_edit_return_pressed(self) -> None:
        text = self.jump_edit.text().strip().lower()
        if not text:
            return
        ids = self._patient_keys()
        exact = [key for pid, key in ids if pid.lower() == text]
        hits = exact or [key for pid, key in ids if text in pid.lower()]
        if not hits:
            self.show_message(f"No open image has patientId {text!r}")
            return
        if len(hits) > 1 and not exact:
            self.show_message(f"{len(hits)} open images match {text!r}: type more of the id")
            return
        self._open_key(hits[0])
        self.focus_image()

    def _patient_keys(self) -> list[tuple[str, str]]:
        """(patientId, key) of the open images (first frames), in load order."""
        images = self.review.review.images
        out = []
        for inst in self.state.images():
            image = images.get(key_for(inst))
            if image is not None:
                out.append((image.patient_id, image.key))
        return out

    # -- rows -------------------------------------------------------------------------------

    def schedule(self) -> None:
        """Rebuild soon (many changes in a row cost one rebuild)."""
        if not self._timer.isActive():
            self._timer.start()

    def refresh(self) -> None:
        """Rebuild the rows in the worklist's order; the image on screen is the current row."""
        done, total = self.review.review_progress()
        order = ORDER_TEXT.get(self.review.worklist.column)
        suffix = f" \u00b7 {order}" if order == ORDER_TEXT[INFORMATIVE] else ""
        self.progress_label.setText(f"{done} of {total} reviewed{suffix}")
        if not self.isVisible():
            return
        self._ids.setStringList(sorted({pid for pid, _key in self._patient_keys()}))
        rows = self.review.worklist_rows()
        table = self.table
        self._syncing = True
        try:
            table.clearContents()
            table.setRowCount(len(rows))
            for r, row in enumerate(rows):
                counts = row.counts
                max_text = "" if counts.max_score is None else f"{counts.max_score:.2f}"
                texts = (
                    row.patient_id,
                    STATUS_MARKS[row.status],
                    str(counts.predictions),
                    max_text,
                    str(counts.disagreement),
                    str(counts.ground_truth),
                )
                for c, text in enumerate(texts):
                    cell = QtWidgets.QTableWidgetItem(text)
                    cell.setData(KEY_ROLE, row.key)
                    if c:
                        cell.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
                    table.setItem(r, c, cell)
                table.item(r, 0).setToolTip(row.patient_id)
                table.item(r, 1).setToolTip(STATUS_TEXT[row.status])
        finally:
            self._syncing = False
        self.select_shown()

    def select_shown(self) -> None:
        """Make the row of the image on screen (by key) the current, selected row."""
        shown = self._shown_key()
        table = self.table
        row = next(
            (r for r in range(table.rowCount()) if table.item(r, 0).data(KEY_ROLE) == shown),
            -1,
        )
        self._syncing = True
        try:
            if row < 0:
                table.setCurrentCell(-1, -1)
                table.clearSelection()
            else:
                table.setCurrentCell(row, 0)
                table.scrollToItem(table.item(row, 0))
        finally:
            self._syncing = False

    def key_at(self, row: int) -> str:
        """Session key of a table row."""
        return str(self.table.item(row, 0).data(KEY_ROLE))

    def _shown_key(self) -> str | None:
        current = self.state.current
        return None if current is None else key_for(current)

    def showEvent(self, event: QtGui.QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self.refresh()

    # -- slots ------------------------------------------------------------------------------

    def _on_state_current_changed(self, _inst: Instance | None) -> None:
        self.select_shown()
        self.schedule()  # the image left may drop out of the filter

    def _on_header_section_clicked(self, section: int) -> None:
        view = self.review.worklist
        column = COLUMNS[section]
        was = view.column
        if column == view.column:
            view.descending = not view.descending
        else:
            view.column, view.descending = column, column in DESCENDING_FIRST
        self._after_sort_change()
        if was == INFORMATIVE:
            self.order_changed.emit("image")  # a column sort turns the toggle off

    def _after_sort_change(self) -> None:
        action = getattr(self, "act_worklist_order", None)
        if action is not None:
            action.setChecked(self.review.worklist.column == INFORMATIVE)
        self._show_sort()
        self.refresh()

    def _show_sort(self) -> None:
        view = self.review.worklist
        for c, text in enumerate(HEADERS):
            arrow = ARROWS[view.descending] if COLUMNS[c] == view.column else ""
            self.table.horizontalHeaderItem(c).setText(f"{text}{arrow}")

    def _on_filter_combo_changed(self, text: str) -> None:
        self.review.worklist.filter = text
        self.refresh()

    def _on_table_current_cell_changed(self, row: int, _c: int, old_row: int, _oc: int) -> None:
        if not self._syncing and row >= 0 and row != old_row:
            self._open_key(self.key_at(row))

    def _on_table_item_activated(self, item: QtWidgets.QTableWidgetItem) -> None:
        self._open_key(str(item.data(KEY_ROLE)))
        self.focus_image()

    def _open_key(self, key: str) -> None:
        inst = self.review.instance_for(key)
        if inst is not None:
            self.state.set_current(inst)
        self.select_shown()
