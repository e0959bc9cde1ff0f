"""Grey-level LUT maths: modality LUT, VOI window or LUT, the windows a header offers.

PS3.4 N.2, "Grayscale Transformations", steps 2 and 3 (presentation, step 4, is an inversion
applied by :mod:`detector.imaging.render`):

- modality: Rescale Slope/Intercept or the Modality LUT Sequence (PS3.3 C.11.1);
- VOI: Window Center/Width with VOI LUT Function LINEAR / LINEAR_EXACT / SIGMOID, or the VOI LUT
  Sequence (PS3.3 C.11.2), mapped to [0, 1].

Pure functions of arrays and a header: no file reading, no decoding, no 8-bit display step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from detector.imaging.decode_errors import short_reason


@dataclass(frozen=True, eq=False)
class VoiTable:
    """A VOI LUT that comes from outside the image's header (a presentation state's).

    ``first_mapped`` is the first modality value mapped, as LUT Descriptor (0028,3002) holds it
    (read as signed when the image's pixels are, like the header's own VOI LUTs); ``bits`` the
    output bits; ``data`` the entries. Compared and hashed by identity, so that a
    :class:`Window` holding it stays a cheap cache key.
    """

    first_mapped: int
    bits: int
    data: np.ndarray
    explanation: str = ""


@dataclass(frozen=True)
class Window:
    """One VOI choice offered to the reader.

    ``kind`` is ``"window"`` (center/width with ``function``), ``"lut"`` (a VOI LUT: the
    header's VOI LUT Sequence item ``lut_index``, or ``table`` when given) or ``"auto"``.
    ``table`` is the VOI override: a presentation state's VOI LUT used instead of the header's.
    """

    center: float
    width: float
    function: str = "LINEAR"
    name: str = ""
    kind: str = "window"
    lut_index: int = -1
    table: VoiTable | None = None

    @classmethod
    def from_table(cls, table: VoiTable, name: str = "") -> Window:
        """A VOI choice that maps through ``table`` instead of the image's header."""
        return cls(0.0, 1.0, name=name or table.explanation, kind="lut", table=table)

    def label(self) -> str:
        if self.kind == "lut":
            return self.name or f"VOI LUT {self.lut_index + 1}"
        text = f"C {self.center:g} / W {self.width:g}"
        return f"{self.name} ({text})" if self.name else text


#: Largest usable Rescale Slope / Intercept magnitude: any 32-bit stored value times the slope,
#: plus the intercept, must stay a finite float32 (3.4e38); beyond, the values are nonsense and
#: would turn into inf and NaN on screen.
_MAX_RESCALE = 1e25


def _rescale(ds: Dataset) -> tuple[float, float]:
    """Rescale Slope and Intercept; a missing, non-numeric, zero, non-finite or absurdly large
    value (beyond :data:`_MAX_RESCALE`) reads as the identity's (1 and 0)."""
    try:
        slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
        intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    except (TypeError, ValueError):
        return 1.0, 0.0
    if not math.isfinite(slope) or slope == 0 or abs(slope) > _MAX_RESCALE:
        slope = 1.0
    if not math.isfinite(intercept) or abs(intercept) > _MAX_RESCALE:
        intercept = 0.0
    return slope, intercept


def apply_modality(stored: np.ndarray, ds: Dataset) -> np.ndarray:
    """Stored values -> modality values.

    Returns
    -------
    ndarray
        float32, same shape as ``stored``.
    """
    seq = ds.get("ModalityLUTSequence")
    if seq and lut_problem(seq[0]) is None:
        item = seq[0]
        lut = _lut_table(item)
        first = _lut_first_mapped(item, ds)
        index = np.clip(stored.astype(np.int64) - first, 0, lut.size - 1)
        return lut[index].astype(np.float32)
    slope, intercept = _rescale(ds)
    out = stored.astype(np.float32)
    if slope != 1.0:
        out *= np.float32(slope)
    if intercept != 0.0:
        out += np.float32(intercept)
    return out


def lut_problem(item: Dataset) -> str | None:
    """Why a Modality/VOI LUT Sequence item cannot be used (``None`` when it can).

    PS3.3 C.11.1.1.1: LUT Descriptor is three numbers (entries, first stored value mapped, bits);
    LUT Data holds the entries.
    """
    try:
        desc = item.get("LUTDescriptor")
        data = item.get("LUTData")
    except Exception as exc:  # noqa: BLE001 - a damaged value reads as unusable
        return f"its LUT cannot be read ({short_reason(exc)})"
    if desc is None or isinstance(desc, bytes | str):
        return "(0028,3002) LUT Descriptor is empty"
    try:
        values = [int(v) for v in desc]
    except (TypeError, ValueError):
        return "(0028,3002) LUT Descriptor is not three numbers"
    if len(values) != 3:
        return f"(0028,3002) LUT Descriptor has {len(values)} values, not 3"
    if data is None or (hasattr(data, "__len__") and len(data) == 0):
        return "(0028,3006) LUT Data is empty"
    return None


def lut_warnings(header: Dataset) -> list[str]:
    out = []
    seq = header.get("ModalityLUTSequence")
    if seq and (problem := lut_problem(seq[0])) is not None:
        out.append(f"Modality LUT Sequence ignored: {problem}")
    for i, item in enumerate(header.get("VOILUTSequence") or []):
        if (problem := lut_problem(item)) is not None:
            out.append(f"VOI LUT {i + 1} ignored: {problem}")
    return out


def _lut_first_mapped(item: Dataset, ds: Dataset | None = None) -> int:
    first = int(item.LUTDescriptor[1])
    # The first mapped value is US or SS like the pixels; read as US it can hold a negative SS.
    if ds is not None and first >= 0x8000 and ds.get("PixelRepresentation", 0) == 1:
        first -= 0x10000
    return first


def _lut_table(item: Dataset) -> np.ndarray:
    """LUT Data as a float array; handles OW/US byte data and 8-bit LUTs packed in 16 bits."""
    desc = item.LUTDescriptor
    n_entries = int(desc[0]) or 65536
    bits = int(desc[2])
    raw = item.LUTData
    if isinstance(raw, bytes | bytearray):
        data = np.frombuffer(raw, dtype="<u2" if bits > 8 or len(raw) >= 2 * n_entries else "u1")
    elif isinstance(raw, int | float):
        data = np.asarray([raw])
    else:
        data = np.asarray(list(raw))
    data = data[:n_entries].astype(np.float64)
    if data.size == 0:
        raise ValueError("The (0028,3006) LUT Data is empty")
    return data


# ---------------------------------------------------------------------------------------------
# VOI (PS3.3 C.11.2)


def _as_floats(value: Any) -> list[float]:
    if value is None or value == "":
        return []
    if isinstance(value, pydicom.multival.MultiValue | list | tuple):
        items = list(value)
    else:
        items = [value]
    out = []
    for v in items:
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            out.append(f)
    return out


def header_windows(ds: Dataset) -> list[Window]:
    """All VOI choices the header offers, in the order a viewer shows them.

    A VOI LUT Sequence comes first (pydicom's ``prefer_lut`` convention), then every Window
    Center/Width pair. Widths <= 0 (and < 1 for LINEAR) are dropped as invalid.
    """
    windows: list[Window] = []
    for i, item in enumerate(ds.get("VOILUTSequence") or []):
        if lut_problem(item) is None:
            name = str(item.get("LUTExplanation", "") or "")
            windows.append(Window(0.0, 1.0, name=name, kind="lut", lut_index=i))
    centers = _as_floats(ds.get("WindowCenter"))
    widths = _as_floats(ds.get("WindowWidth"))
    explanations = ds.get("WindowCenterWidthExplanation")
    if isinstance(explanations, str):
        explanations = [explanations]
    explanations = list(explanations or [])
    function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").strip().upper()
    if function not in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
        function = "LINEAR"
    for i, (c, w) in enumerate(zip(centers, widths, strict=False)):
        if w <= 0 or (function == "LINEAR" and w < 1):
            continue
        name = str(explanations[i]) if i < len(explanations) else ""
        windows.append(Window(c, w, function=function, name=name))
    return windows


def _through_table(x: np.ndarray, lut: np.ndarray, first: int, bits: int) -> np.ndarray:
    """Values through a VOI LUT (clamped to its first and last entries), mapped to [0, 1]."""
    top = float(2**bits - 1) if bits > 0 else float(lut.max() or 1)
    top = max(top, float(lut.max()))
    index = np.clip(np.rint(x).astype(np.int64) - first, 0, lut.size - 1)
    return lut[index] / (top if top > 0 else 1.0)


def voi_to_unit(values: np.ndarray, window: Window, ds: Dataset | None = None) -> np.ndarray:
    """Modality values -> [0, 1] float64 through one VOI choice.

    LINEAR and LINEAR_EXACT follow PS3.3 C.11.2.1.2; SIGMOID follows C.11.2.1.3.1.
    """
    x = np.asarray(values, dtype=np.float64)
    if window.kind == "lut" and window.table is not None:
        t = window.table
        first = t.first_mapped
        if ds is not None and first >= 0x8000 and ds.get("PixelRepresentation", 0) == 1:
            first -= 0x10000
        return _through_table(x, np.asarray(t.data, dtype=np.float64), first, t.bits)
    if window.kind == "lut":
        if ds is None:
            raise ValueError("a VOI LUT window needs the dataset that holds the LUT")
        item = ds.VOILUTSequence[window.lut_index]
        lut = _lut_table(item)
        first = _lut_first_mapped(item, ds)
        return _through_table(x, lut, first, int(item.LUTDescriptor[2]))
    c, w = window.center, window.width
    if window.function == "SIGMOID":
        if w <= 0:
            raise ValueError(
                "The (0028,1051) Window Width must be greater than 0 for a 'SIGMOID' windowing "
                "operation"
            )
        with np.errstate(over="ignore"):  # exp(large) = inf maps to 0, as it should
            return 1.0 / (1.0 + np.exp(-4.0 * (x - c) / w))
    if window.function == "LINEAR_EXACT":
        w = max(w, 1e-12)
        return np.clip((x - c) / w + 0.5, 0.0, 1.0)
    w = max(w, 1.0)
    return np.clip((x - (c - 0.5)) / (w - 1.0 if w > 1 else 1.0) + 0.5, 0.0, 1.0)
