"""Window/level presets and drag maths (no Qt).

CT images get the classic Hounsfield presets. Projection radiographs (CR, DX, ...) have no
standard units, so their Lung / Mediastinum / Bone presets are fractions of the image's robust
value range (the automatic window), mirrored for MONOCHROME1 where dense tissue is dark-valued.
"""

from __future__ import annotations

from dataclasses import dataclass

from detector.imaging.decode import DicomImage, full_range_window
from detector.imaging.lut import Window

#: Preset names in number-key order (key 1 = header windows, cycling through them).
PRESET_NAMES: tuple[str, ...] = ("Header", "Lung", "Mediastinum", "Bone", "Full range", "Auto")

#: Hounsfield presets (center, width) used for CT.
_HU_PRESETS = {"Lung": (-600.0, 1500.0), "Mediastinum": (40.0, 400.0), "Bone": (480.0, 2500.0)}

#: Fractions (low, high) of the robust range for radiographs, MONOCHROME2 orientation.
_RELATIVE_PRESETS = {"Lung": (0.0, 0.65), "Mediastinum": (0.3, 1.0), "Bone": (0.55, 1.0)}


@dataclass(frozen=True)
class Preset:
    """A preset resolved for one image."""

    name: str
    window: Window


def preset_window(image: DicomImage, name: str, *, header_index: int = 0) -> Window:
    """The window that preset ``name`` gives for ``image``.

    Parameters
    ----------
    image : DicomImage
        The displayed frame.
    name : str
        One of :data:`PRESET_NAMES`.
    header_index : int
        For ``"Header"``: which header window (wraps around); falls back to Auto when the header
        has none.

    Raises
    ------
    ValueError
        Unknown preset name.
    """
    if name == "Header":
        if not image.windows:
            return image.auto_window
        return image.windows[header_index % len(image.windows)]
    if name == "Full range":
        return full_range_window(image)
    if name == "Auto":
        return image.auto_window
    if name not in _HU_PRESETS:
        raise ValueError(f"unknown window preset {name!r}; expected one of {PRESET_NAMES}")
    modality = str(image.header.get("Modality", "")).upper()
    if modality == "CT":
        c, w = _HU_PRESETS[name]
        return Window(c, w, name=name)
    auto = image.auto_window
    lo, hi = auto.center - auto.width / 2.0, auto.center + auto.width / 2.0
    a, b = _RELATIVE_PRESETS[name]
    if image.invert_default:
        a, b = 1.0 - b, 1.0 - a
    span = hi - lo
    return Window(lo + span * (a + b) / 2.0, span * (b - a), function="LINEAR_EXACT", name=name)


def drag_window(
    start: Window, dx: float, dy: float, span: float, *, pixels: float = 600.0
) -> Window:
    """New window after a right-drag of ``(dx, dy)`` screen pixels from ``start``.

    Horizontal movement changes the width (right = wider, less contrast); vertical movement
    changes the level (down = higher level, darker image), as in Weasis, OHIF and RadiAnt.
    ``pixels`` of movement sweep the whole modality ``span``.
    """
    step = max(span, 1e-6) / pixels
    width = max(start.width + dx * step, step if span > 1 else 1e-6)
    center = start.center + dy * step
    function = start.function if start.kind == "window" else "LINEAR_EXACT"
    return Window(center, width, function=function, name="")


def window_text(window: Window) -> str:
    """Short W/L readout: ``"W 400 L 40"`` (VOI LUTs by name)."""
    if window.kind == "lut":
        return window.label()
    return f"W {_fmt(window.width)} L {_fmt(window.center)}"


def _fmt(value: float) -> str:
    if abs(value) >= 100 or value == int(value):
        return f"{value:.0f}"
    return f"{value:.3g}"
