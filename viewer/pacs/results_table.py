"""The studies a PACS search found: patient, date, modality, accession, images."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from detector.pacs.query import StudyResult

COLUMNS = ("Patient", "Name", "Date", "Modality", "Accession", "Images")


def _date_text(value: str) -> str:
    """``20240131`` → ``2024-01-31`` (other values as they are)."""
    return (
        f"{value[:4]}-{value[4:6]}-{value[6:8]}" if len(value) == 8 and value.isdigit() else value
    )


class ResultsTable(QtWidgets.QTableWidget):
    """One row per study; several rows can be selected for Retrieve.

    Signals
    -------
    activated_study()
        A row was double-clicked or Return pressed on it (retrieve it).
    """

    activated_study = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setObjectName("pacs_results")
        self.setHorizontalHeaderLabels(list(COLUMNS))
        self.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setStretchLastSection(True)
        self.setSortingEnabled(True)
        self.results: list[StudyResult] = []
        self.doubleClicked.connect(lambda _index: self.activated_study.emit())

    def set_results(self, results: list[StudyResult]) -> None:
        """Show ``results`` (replacing the previous search's)."""
        self.setSortingEnabled(False)
        self.clearContents()
        self.setRowCount(len(results))
        self.results = list(results)
        for row, study in enumerate(results):
            cells = (
                study.patient_id,
                study.patient_name.replace("^", " ").strip(),
                _date_text(study.study_date),
                ", ".join(study.modalities),
                study.accession,
                "" if study.images is None else str(study.images),
            )
            for col, text in enumerate(cells):
                item = QtWidgets.QTableWidgetItem(text)
                item.setData(QtCore.Qt.ItemDataRole.UserRole, row)
                if col == len(cells) - 1 and study.images is not None:
                    item.setData(QtCore.Qt.ItemDataRole.DisplayRole, study.images)
                item.setToolTip(f"Study {study.study_uid}")
                self.setItem(row, col, item)
        self.setSortingEnabled(True)
        self.sortItems(2, QtCore.Qt.SortOrder.DescendingOrder)  # newest study first
        self.resizeColumnsToContents()
        if results:
            self.selectRow(0)

    def selected_results(self) -> list[StudyResult]:
        """The selected studies, in table order."""
        rows = sorted({index.row() for index in self.selectionModel().selectedRows()})
        out = []
        for row in rows:
            item = self.item(row, 0)
            if item is not None:
                out.append(self.results[int(item.data(QtCore.Qt.ItemDataRole.UserRole))])
        return out

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:  # noqa: N802 - Qt override
        if event.key() in (QtCore.Qt.Key.Key_Return, QtCore.Qt.Key.Key_Enter) and self.results:
            self.activated_study.emit()
            return
        super().keyPressEvent(event)
