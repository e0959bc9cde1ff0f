"""Text of the four corner overlays and the cursor readout (no Qt)."""

from __future__ import annotations

from pydicom.dataset import Dataset

from detector.imaging.decode import DicomImage
from detector.imaging.dicom_info import header_text, pixel_spacing
from detector.imaging.lut import Window
from detector.imaging.plain import NO_SPACING
from viewer.canvas.presets import window_text


def format_date(value: str) -> str:
    """DICOM DA ``YYYYMMDD`` -> ``YYYY-MM-DD`` (anything else unchanged)."""
    value = value.strip()
    if len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value


def format_name(value: str) -> str:
    """DICOM PN ``Family^Given^Middle`` -> ``FAMILY, Given Middle``."""
    parts = [p for p in value.split("=")[0].split("^")]
    if not parts or not parts[0]:
        return value.replace("^", " ").strip()
    given = " ".join(p for p in parts[1:3] if p)
    return f"{parts[0].upper()}, {given}" if given else parts[0].upper()


def value_unit(ds: Dataset) -> str:
    """Unit of modality values: HU for CT, Rescale Type when given, else empty."""
    if header_text(ds, "Modality").upper() == "CT":
        return "HU"
    rescale_type = header_text(ds, "RescaleType")
    return "" if rescale_type.upper() in ("", "US") else rescale_type


def corner_texts(
    header: Dataset,
    image: DicomImage | None,
    window: Window | None,
    *,
    zoom: float,
    index: int,
    count: int,
    invert: bool = False,
    equalize: str = "none",
) -> dict[str, str]:
    """The four corner texts for the current image (keys ``top_left`` ... ``bottom_left``)."""
    name = format_name(header_text(header, "PatientName"))
    pid = header_text(header, "PatientID")
    age, sex = header_text(header, "PatientAge"), header_text(header, "PatientSex")
    top_left = [name or "(no name)", f"ID {pid}" if pid else "(no ID)"]
    age_sex = " ".join(v for v in (age, sex) if v)
    if age_sex:
        top_left.append(age_sex)
    date = format_date(header_text(header, "StudyDate"))
    if date:
        top_left.append(date)
    description = header_text(header, "StudyDescription")
    if description:
        top_left.append(description)

    modality = header_text(header, "Modality")
    view = header_text(header, "ViewPosition")
    top_right = [" ".join(v for v in (modality, view) if v) or "(no modality)"]
    series, inst = header_text(header, "SeriesNumber"), header_text(header, "InstanceNumber")
    top_right.append(f"Se {series or '-'}  Im {inst or '-'}")
    if count:
        top_right.append(f"{index + 1} / {count}")
    if image is not None and image.n_frames > 1:
        top_right.append(f"Frame {image.frame + 1} / {image.n_frames}")

    bottom_left: list[str] = []
    if window is not None:
        wl = window_text(window)
        if window.name and window.kind != "lut":
            wl += f"  ({window.name})"
        bottom_left.append(wl)
    flags = [
        label
        for on, label in (
            (invert, "inverted"),
            (equalize == "hist", "equalized"),
            (equalize == "clahe", "CLAHE"),
        )
        if on
    ]
    if flags:
        bottom_left.append(", ".join(flags))
    bottom_left.append(f"Zoom {zoom * 100:.0f}%")
    if image is not None:
        rows, cols = image.shape
        bottom_left.append(f"{cols} x {rows}")
    return {
        "top_left": "\n".join(top_left),
        "top_right": "\n".join(top_right),
        "bottom_left": "\n".join(bottom_left),
        "bottom_right": "",
    }


def cursor_text(image: DicomImage, row: int, col: int) -> str:
    """Pixel position (px and mm when spacing is known) and modality value under the cursor."""
    header = image.header
    value = image.modality_value(row, col)
    if isinstance(value, tuple):
        value_str = "RGB " + " ".join(f"{v:g}" for v in value)
    else:
        unit = value_unit(header)
        value_str = f"{value:.6g}" + (f" {unit}" if unit else "")
    lines = [f"x {col}  y {row} px"]
    spacing = pixel_spacing(header)
    if spacing is not None:
        row_mm, col_mm, source = spacing
        tag = " (imager)" if source == "ImagerPixelSpacing" else ""
        lines.append(f"x {col * col_mm:.1f}  y {row * row_mm:.1f} mm{tag}")
    elif not image.is_dicom:
        lines.append(NO_SPACING)
    lines.append(f"Value {value_str}")
    return "\n".join(lines)
