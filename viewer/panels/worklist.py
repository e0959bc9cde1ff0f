"""The Worklist: every open image with its review status and what the model found, sortable.

Sort by status, number of predictions, highest score or ground-truth/prediction disagreement
to read the most uncertain images first; double-click (or Enter) opens an image. The numbers
come from :meth:`detector.review.ReviewState.counts` at the current threshold and the
comparison IoU; the table is rebuilt (coalesced) when the review changes and the panel is shown.
"""

from __future__ import annotations

from typing import Protocol

from PySide6 import QtCore, QtWidgets

from detector.files.scan import Instance
from detector.review import ReviewError, ReviewState
from viewer.review.keys import STATUS_TEXT, key_for
from viewer.state import ViewerState

COLUMNS = ("image", "status", "pred.", "max", "disagree", "GT")
TOOLTIPS = (
    "patientId (file name)",
    "review status",
    "predictions at the threshold",
    "highest prediction score",
    "ground-truth and predicted boxes left unmatched at the comparison IoU",
    "ground-truth boxes",
)
KEY_ROLE = QtCore.Qt.ItemDataRole.UserRole + 1
#: Sort order of the review statuses (unreviewed first).
STATUS_ORDER = {"unreviewed": 0, "in progress": 1, "reviewed": 2, "no opacity": 3}


class _Item(QtWidgets.QTableWidgetItem):
    """A cell that sorts by a number (``sort_value``) rather than by its text."""

    def __init__(self, text: str, sort_value: float) -> None:
        super().__init__(text)
        self.sort_value = sort_value

    def __lt__(self, other: QtWidgets.QTableWidgetItem) -> bool:
        if isinstance(other, _Item):
            return self.sort_value < other.sort_value
        return super().__lt__(other)


class WorklistSource(Protocol):
    """What the worklist reads: the review of the open images (the review controller)."""

    @property
    def review(self) -> ReviewState: ...
    @property
    def threshold(self) -> float: ...
    @property
    def iou_threshold(self) -> float: ...
    def review_progress(self) -> tuple[int, int]: ...
    def instance_for(self, key: str) -> Instance | None: ...


class WorklistPanel(QtWidgets.QWidget):
    """All open images with status, predictions, max score and disagreement.

    The owner calls :meth:`schedule` when the review changes; an opened row becomes the
    current image of ``state``.
    """

    def __init__(
        self,
        state: ViewerState,
        review: WorklistSource,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.review = review
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.progress_label = QtWidgets.QLabel("")
        self.progress_label.setObjectName("review_progress")
        layout.addWidget(self.progress_label)
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("worklist_table")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        for c, tip in enumerate(TOOLTIPS):
            self.table.horizontalHeaderItem(c).setToolTip(tip)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSectionResizeMode(
            QtWidgets.QHeaderView.ResizeMode.ResizeToContents
        )
        layout.addWidget(self.table, 1)
        self.table.itemActivated.connect(self._open)
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)
        self._timer.timeout.connect(self.refresh)

    def schedule(self) -> None:
        """Rebuild soon (many changes in a row cost one rebuild)."""
        if not self._timer.isActive():
            self._timer.start()

    def rows(self) -> list[tuple[str, str, str, int, float | None, int, int]]:
        """(key, patientId, status, predictions, max score, disagreement, ground truth)."""
        out = []
        review = self.review.review
        for inst in self.state.images():
            key = key_for(inst)
            try:
                image = review.image(key)
                counts = review.counts(
                    key, threshold=self.review.threshold, iou_threshold=self.review.iou_threshold
                )
            except ReviewError:
                continue
            out.append(
                (
                    key,
                    image.patient_id,
                    STATUS_TEXT[image.status],
                    counts.predictions,
                    counts.max_score,
                    counts.disagreement,
                    counts.ground_truth,
                )
            )
        return out

    def refresh(self) -> None:
        done, total = self.review.review_progress()
        self.progress_label.setText(f"{done} of {total} reviewed")
        if not self.isVisible():
            return
        rows = self.rows()
        table = self.table
        table.setSortingEnabled(False)
        table.setRowCount(len(rows))
        for r, (key, name, status, n_pred, max_score, disagreement, n_truth) in enumerate(rows):
            cells = (
                _Item(name, r),
                _Item(status, STATUS_ORDER.get(status, 9)),
                _Item(str(n_pred), n_pred),
                _Item("" if max_score is None else f"{max_score:.2f}", max_score or -1.0),
                _Item(str(disagreement), disagreement),
                _Item(str(n_truth), n_truth),
            )
            for c, cell in enumerate(cells):
                cell.setData(KEY_ROLE, key)
                table.setItem(r, c, cell)
        table.setSortingEnabled(True)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self.refresh()

    def _open(self, item: QtWidgets.QTableWidgetItem) -> None:
        inst = self.review.instance_for(str(item.data(KEY_ROLE)))
        if inst is not None:
            self.state.set_current(inst)
