"""Write DICOM images: synthetic studies (``pneumoview synth``, the demo) and test fixtures.

Uses pydicom's ``Dataset.set_pixel_data`` for native data and Pillow for JPEG Baseline (pydicom
has no JPEG Baseline encoder), wrapped with ``pydicom.encaps.encapsulate``.
"""

from __future__ import annotations

import datetime as _dt
import io
import os
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    generate_uid,
)

CR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1"
DX_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1.1"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
#: Patient and study attributes a derived object (SR, GSPS) copies from the image it references;
#: Type 2 in those objects, so written empty when the image lacks one (highdicom reads them).
PATIENT_STUDY_COPIED = (
    "PatientID",
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
)


def new_image_dataset(
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    sop_class_uid: str = CR_IMAGE_STORAGE,
    bits_stored: int | None = None,
    **attributes: Any,
) -> Dataset:
    """A minimal, valid image dataset around ``pixels``.

    Parameters
    ----------
    pixels : ndarray
        (rows, cols) grey, (rows, cols, 3) RGB, or (frames, rows, cols[, 3]); uint8/uint16/int16.
    attributes
        Any DICOM keywords to set (``PatientID="x"``, ``WindowCenter=40``...).
    """
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    ds.SOPClassUID = UID(sop_class_uid)
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientID = "TEST"
    ds.PatientName = "Test^Patient"
    ds.Modality = "CR" if sop_class_uid == CR_IMAGE_STORAGE else "OT"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    today = _dt.date.today().strftime("%Y%m%d")
    ds.StudyDate = today
    ds.StudyTime = "120000"
    ds.ContentDate = today
    ds.ContentTime = "120000"
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.set_pixel_data(pixels, photometric, bits_stored or pixels.dtype.itemsize * 8)
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def compress_jpeg_baseline(ds: Dataset, *, quality: int = 92) -> Dataset:
    """Re-encode an 8-bit grey or RGB single-frame dataset as JPEG Baseline (in place)."""
    from PIL import Image

    arr = ds.pixel_array
    if arr.dtype != np.uint8:
        raise ValueError("JPEG Baseline needs 8-bit pixels")
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=quality, subsampling=0)
    ds.PixelData = encapsulate([buf.getvalue()])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    if arr.ndim == 3:
        # Pillow writes JFIF with the YCbCr colour transform.
        ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionMethod = "ISO_10918_1"
    return ds


def save_dataset(ds: Dataset, path: str | os.PathLike[str]) -> None:
    """Write with a File Meta header (Explicit VR Little Endian unless already compressed)."""
    if "TransferSyntaxUID" not in ds.file_meta:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
