"""Header values as text: the one helper the scan, the study browser and the overlays use."""

from __future__ import annotations

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from detector.files.scan import group_keys
from detector.imaging.dicom_info import header_text


class TestHeaderText:
    def test_value_is_stripped_text(self) -> None:
        """A present value comes back as text without padding."""
        ds = Dataset()
        ds.PatientID = "  RSNA-0001 "
        ds.InstanceNumber = 7
        assert header_text(ds, "PatientID") == "RSNA-0001"
        assert header_text(ds, "InstanceNumber") == "7"

    def test_missing_or_empty_gives_the_default(self) -> None:
        """Missing and empty (None) values read as the default."""
        ds = Dataset()
        ds.PatientName = None
        assert header_text(ds, "PatientID") == ""
        assert header_text(ds, "PatientID", "(none)") == "(none)"
        assert header_text(ds, "PatientName", "(none)") == "(none)"

    def test_damaged_value_reads_as_missing(self) -> None:
        """A value pydicom cannot convert (3 bytes of US) is missing, not an exception."""
        ds = Dataset()
        tag = Tag(0x00200013)  # InstanceNumber, stored with a wrong VR and length
        ds[tag] = RawDataElement(tag, "US", 3, b"\x01\x02\x03", 0, False, True)
        assert header_text(ds, "InstanceNumber", "?") == "?"


class TestGroupKeys:
    def test_uids_are_the_keys(self) -> None:
        ds = Dataset()
        ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID = "p1", "1.2.3", "1.2.3.4"
        assert group_keys(ds) == ("p1", "1.2.3", "1.2.3.4")

    def test_missing_uids_get_keys_of_their_parent(self) -> None:
        """An image without IDs still has a patient, a study and a series to sit in."""
        assert group_keys(Dataset()) == (
            "(no Patient ID)",
            "(no Patient ID)/(no study UID)",
            "(no Patient ID)/(no study UID)/(no series UID)",
        )
