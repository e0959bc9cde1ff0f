"""The query and result models shared by both protocols, the command line and the window.

A :class:`StudyQuery` becomes a study-level C-FIND identifier or QIDO-RS search filters; each
study found is one :class:`StudyResult`. :class:`InstanceRef` names one image to retrieve.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import asdict, dataclass
from typing import Any

MODALITIES = ("CR", "DX")
_UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_COMPACT_RANGE = re.compile(r"^(\d{8})?-(\d{8})?$")


def is_uid(text: str) -> bool:
    """A DICOM UID: digits and dots, at most 64 characters (safe as a file name)."""
    return 0 < len(text) <= 64 and bool(_UID_RE.match(text))


def _parse_date(text: str) -> _dt.date:
    text = text.strip()
    for fmt in ("%Y%m%d", "%Y-%m-%d"):
        try:
            return _dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a date (YYYYMMDD or YYYY-MM-DD)")


def parse_date_range(text: str) -> tuple[_dt.date | None, _dt.date | None]:
    """``(first, last)`` from a date or a range; an open end is ``None``.

    Forms: ``20240131`` or ``2024-01-31`` (one day), ``20240101-20240131`` (DICOM),
    ``2024-01-01..2024-01-31``, and either with one end left out (``20240101-``, ``..2024-01-31``).

    Raises
    ------
    ValueError
        Not one of these, or the first date is after the last.
    """
    text = text.strip()
    if ".." in text:
        first_text, last_text = text.split("..", 1)
    elif (m := _COMPACT_RANGE.match(text)) is not None:
        first_text, last_text = m.group(1) or "", m.group(2) or ""
    else:
        first_text = last_text = text
    first = _parse_date(first_text) if first_text.strip() else None
    last = _parse_date(last_text) if last_text.strip() else None
    if first is None and last is None:
        raise ValueError(f"{text!r} is not a date range")
    if first is not None and last is not None and first > last:
        raise ValueError(f"{text!r}: the first date is after the last")
    return first, last


@dataclass(frozen=True)
class StudyQuery:
    """What to look for; empty fields match everything.

    Attributes
    ----------
    patient_id, patient_name : str
        ``*`` and ``?`` are wildcards (DICOM matching).
    date_from, date_to : date or None
        Study date range, both ends included.
    modality : str
        ``""``, ``"CR"`` or ``"DX"`` (Modalities in Study).
    accession : str
    study_uids : tuple of str
    """

    patient_id: str = ""
    patient_name: str = ""
    date_from: _dt.date | None = None
    date_to: _dt.date | None = None
    modality: str = ""
    accession: str = ""
    study_uids: tuple[str, ...] = ()

    @property
    def dicom_dates(self) -> str:
        """The DICOM date range (``YYYYMMDD-YYYYMMDD``, an open end empty), ``""`` for any."""
        if self.date_from is None and self.date_to is None:
            return ""
        first = self.date_from.strftime("%Y%m%d") if self.date_from else ""
        last = self.date_to.strftime("%Y%m%d") if self.date_to else ""
        return first if first and first == last else f"{first}-{last}"

    def filters(self) -> dict[str, str]:
        """Keyword -> DICOM matching value, only for the fields that are set."""
        pairs = {
            "PatientID": self.patient_id,
            "PatientName": self.patient_name,
            "StudyDate": self.dicom_dates,
            "ModalitiesInStudy": self.modality,
            "AccessionNumber": self.accession,
            "StudyInstanceUID": "\\".join(self.study_uids),
        }
        return {k: v for k, v in pairs.items() if v}


@dataclass(frozen=True)
class StudyResult:
    """One study found.

    Attributes
    ----------
    study_uid, patient_id, patient_name, study_date, accession, description : str
    modalities : tuple of str
    images : int or None
        Number of images in the study, ``None`` when the server did not say.
    """

    study_uid: str
    patient_id: str = ""
    patient_name: str = ""
    study_date: str = ""
    modalities: tuple[str, ...] = ()
    accession: str = ""
    description: str = ""
    images: int | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the ``--json`` output)."""
        out = asdict(self)
        out["modalities"] = list(self.modalities)
        return out


@dataclass(frozen=True)
class InstanceRef:
    """One image on the server."""

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str = ""


def text_value(value: Any) -> str:
    """A DICOM value as one line of text (``""`` for none; multi-values joined by ``\\``)."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def int_value(value: Any) -> int | None:
    """An integer DICOM value, ``None`` when absent or not a number."""
    try:
        return int(str(value).strip()) if value not in (None, "") else None
    except ValueError:
        return None


def modalities_value(value: Any) -> tuple[str, ...]:
    """Modalities in Study as a tuple."""
    text = text_value(value)
    return tuple(m for m in text.split("\\") if m)
