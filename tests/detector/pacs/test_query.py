"""Query model: date ranges and the matching keys both protocols send."""

from __future__ import annotations

import datetime as dt

import pytest

from detector.pacs.query import StudyQuery, is_uid, parse_date_range


class TestParseDateRange:
    @pytest.mark.parametrize(
        ("text", "first", "last"),
        [
            ("20240131", dt.date(2024, 1, 31), dt.date(2024, 1, 31)),
            ("2024-01-31", dt.date(2024, 1, 31), dt.date(2024, 1, 31)),
            ("20240101-20240131", dt.date(2024, 1, 1), dt.date(2024, 1, 31)),
            ("2024-01-01..2024-01-31", dt.date(2024, 1, 1), dt.date(2024, 1, 31)),
            ("20240101-", dt.date(2024, 1, 1), None),
            ("..2024-01-31", None, dt.date(2024, 1, 31)),
        ],
    )
    def test_forms(self, text: str, first: dt.date | None, last: dt.date | None) -> None:
        assert parse_date_range(text) == (first, last)

    @pytest.mark.parametrize("text", ["", "-", "2024-13-01", "20240131-20240101", "yesterday"])
    def test_refused(self, text: str) -> None:
        with pytest.raises(ValueError):
            parse_date_range(text)


class TestStudyQueryFilters:
    def test_only_what_is_set(self) -> None:
        assert StudyQuery().filters() == {}

    def test_all(self) -> None:
        q = StudyQuery(
            patient_id="P*",
            date_from=dt.date(2024, 1, 1),
            date_to=dt.date(2024, 1, 31),
            modality="DX",
            accession="A1",
            study_uids=("1.2", "1.3"),
        )
        assert q.filters() == {
            "PatientID": "P*",
            "StudyDate": "20240101-20240131",
            "ModalitiesInStudy": "DX",
            "AccessionNumber": "A1",
            "StudyInstanceUID": "1.2\\1.3",
        }

    def test_one_day_and_open_end(self) -> None:
        day = dt.date(2024, 2, 29)
        assert StudyQuery(date_from=day, date_to=day).dicom_dates == "20240229"
        assert StudyQuery(date_to=day).dicom_dates == "-20240229"


@pytest.mark.parametrize(
    ("text", "ok"),
    [("1.2.840.10008", True), ("../../etc/passwd", False), ("1." * 40, False), ("", False)],
)
def test_is_uid(text: str, ok: bool) -> None:
    """Only digits and dots, at most 64 characters: a peer's UID never escapes the folder."""
    assert is_uid(text) is ok
