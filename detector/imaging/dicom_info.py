"""Key attributes of a DICOM header, as plain Python values (for ``info`` and the viewer)."""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset


def header_text(ds: Any, keyword: str, default: str = "") -> str:
    """A header value as stripped text, ``default`` when missing, empty or unreadable.

    The one way a DICOM value becomes display or grouping text (scan, study browser, corner
    overlays): a damaged value (a bad VR, an undecodable character set) is treated as missing
    rather than stopping a folder scan or a repaint.
    """
    try:
        value = ds.get(keyword, default)
    except Exception:  # noqa: BLE001 - any damaged value reads as missing
        return default
    return str(value if value is not None else default).strip()


#: (label, keyword) pairs shown first by ``pneumoview info`` and the viewer's overlay.
KEY_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("Patient ID", "PatientID"),
    ("Patient name", "PatientName"),
    ("Age", "PatientAge"),
    ("Sex", "PatientSex"),
    ("Study date", "StudyDate"),
    ("Study description", "StudyDescription"),
    ("Series description", "SeriesDescription"),
    ("Modality", "Modality"),
    ("Body part", "BodyPartExamined"),
    ("View position", "ViewPosition"),
    ("Series number", "SeriesNumber"),
    ("Instance number", "InstanceNumber"),
    ("Rows", "Rows"),
    ("Columns", "Columns"),
    ("Frames", "NumberOfFrames"),
    ("Photometric", "PhotometricInterpretation"),
    ("Bits stored", "BitsStored"),
    ("Pixel representation", "PixelRepresentation"),
    ("Pixel spacing (mm)", "PixelSpacing"),
    ("Imager pixel spacing (mm)", "ImagerPixelSpacing"),
    ("Rescale slope", "RescaleSlope"),
    ("Rescale intercept", "RescaleIntercept"),
    ("Window center", "WindowCenter"),
    ("Window width", "WindowWidth"),
    ("VOI LUT function", "VOILUTFunction"),
    ("Presentation LUT shape", "PresentationLUTShape"),
    ("SOP class", "SOPClassUID"),
    ("SOP instance UID", "SOPInstanceUID"),
)


def plain(value: Any) -> Any:
    """A DICOM value as JSON-friendly Python (lists for multi-values, str for the rest)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    try:
        items = list(value)
    except TypeError:
        return str(value)
    if isinstance(value, str):
        return str(value)
    return [plain(v) for v in items]


def key_attributes(ds: Dataset) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for _label, keyword in KEY_ATTRIBUTES:
        if keyword in ds:
            try:
                value = ds[keyword].value
            except Exception:  # noqa: BLE001 - a damaged value is shown as missing
                continue
            if keyword == "SOPClassUID":
                out[keyword] = f"{value} ({getattr(value, 'name', '')})"
            elif keyword == "PatientName":
                out[keyword] = str(value)
            else:
                out[keyword] = plain(value)
    tsyntax = getattr(ds, "file_meta", Dataset()).get("TransferSyntaxUID")
    if tsyntax is not None:
        out["TransferSyntaxUID"] = f"{tsyntax} ({getattr(tsyntax, 'name', '')})"
    return out


def pixel_spacing(ds: Dataset) -> tuple[float, float, str] | None:
    """(row mm, column mm, source keyword): Pixel Spacing, else Imager Pixel Spacing."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(keyword)
        if value is None:
            continue
        try:
            row, col = float(value[0]), float(value[1])
        except (TypeError, ValueError, IndexError):
            continue
        if row > 0 and col > 0:
            return row, col, keyword
    return None
