"""Which name a WADO-RS part gets: the File Meta's UID, the dataset's when the meta has none
usable, and no name at all when neither is a UID (no server needed: the parts are made here)."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest

from detector.imaging.dicom_write import new_image_dataset
from detector.pacs.dicomweb import _ref_of


def _part(meta_uid: str | None, sop_uid: str) -> bytes:
    ds = new_image_dataset(np.zeros((8, 8), np.uint8), StudyInstanceUID="1.2.3")
    ds.SOPInstanceUID = sop_uid
    if meta_uid is None:
        del ds.file_meta.MediaStorageSOPInstanceUID
    else:
        ds.file_meta.MediaStorageSOPInstanceUID = meta_uid
    ds.preamble = b"\0" * 128  # a DICOM file (PS3.10), with a meta written as given
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=False)
    return buffer.getvalue()


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI:UserWarning")  # made on purpose
@pytest.mark.parametrize(
    ("meta_uid", "sop_uid", "named"),
    [
        ("1.2.840.99.1", "1.2.840.99.1", "1.2.840.99.1"),  # the usual file
        (None, "1.2.840.99.2", "1.2.840.99.2"),  # meta without the UID: the dataset's
        ("../../escape", "1.2.840.99.3", "1.2.840.99.3"),  # a meta UID that is no UID
        ("../../escape", "../../escape", None),  # neither: refused
    ],
)
def test_part_is_named_by_a_uid(meta_uid: str | None, sop_uid: str, named: str | None) -> None:
    ref = _ref_of(_part(meta_uid, sop_uid), "1.2.3")
    assert (ref.sop_uid if ref else None) == named


@pytest.mark.filterwarnings("ignore:End of file reached:UserWarning")
def test_a_part_that_is_not_dicom_has_no_name() -> None:
    assert _ref_of(b"\0" * 128 + b"DICM" + b"\xff" * 40, "1.2.3") is None
    assert _ref_of(b"<html>502 Bad Gateway</html>", "1.2.3") is None


def test_the_meta_uid_is_what_the_file_says() -> None:
    """A file saved by pydicom names itself by its File Meta (equal to SOPInstanceUID)."""
    part = _part("1.2.840.99.4", "1.2.840.99.4")
    ds = pydicom.dcmread(io.BytesIO(part))
    assert _ref_of(part, "1.2.3").sop_uid == ds.file_meta.MediaStorageSOPInstanceUID
