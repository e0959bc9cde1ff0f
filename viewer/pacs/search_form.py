"""The PACS search form: patient ID, study date range, modality, accession → a StudyQuery."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from detector.pacs.query import MODALITIES, StudyQuery, parse_date_range


class SearchForm(QtWidgets.QWidget):
    """The filters of a study search; empty fields match everything.

    Signals
    -------
    submitted()
        Return was pressed in a field.
    """

    submitted = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.patient = QtWidgets.QLineEdit()
        self.patient.setObjectName("pacs_patient")
        self.patient.setPlaceholderText("ID; * and ? match")
        self.dates = QtWidgets.QLineEdit()
        self.dates.setObjectName("pacs_dates")
        self.dates.setPlaceholderText("20240101-20240131, 2024-01-01..2024-01-31, 20240101-")
        self.modality = QtWidgets.QComboBox()
        self.modality.setObjectName("pacs_modality")
        self.modality.addItem("any", "")
        for name in MODALITIES:
            self.modality.addItem(name, name)
        self.accession = QtWidgets.QLineEdit()
        self.accession.setObjectName("pacs_accession")
        layout = QtWidgets.QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addRow("Patient ID", self.patient)
        layout.addRow("Study date", self.dates)
        layout.addRow("Modality", self.modality)
        layout.addRow("Accession", self.accession)
        for edit in (self.patient, self.dates, self.accession):
            edit.returnPressed.connect(self.submitted)

    def query(self) -> StudyQuery:
        """The query the fields describe.

        Raises
        ------
        ValueError
            The study date is not a date or a range (the message says which forms work).
        """
        first = last = None
        if self.dates.text().strip():
            first, last = parse_date_range(self.dates.text())
        return StudyQuery(
            patient_id=self.patient.text().strip(),
            date_from=first,
            date_to=last,
            modality=str(self.modality.currentData() or ""),
            accession=self.accession.text().strip(),
        )
