"""Reading a Grayscale Softcopy Presentation State as untrusted input (PS3.3 A.33.1).

:func:`read_gsps` turns a GSPS file (or dataset) into a :class:`PresentationState`. Anything it
cannot use raises :class:`GspsError` with one line naming the attribute (tag and keyword) and
the value at fault; nothing is half-applied. Read: the referenced images (Referenced Series
Sequence), the Softcopy VOI LUT Sequence (a window or a VOI LUT per referenced image),
Presentation LUT Shape, the Graphic Annotation Sequence (POINT, POLYLINE, INTERPOLATED, CIRCLE
and ELLIPSE graphics, text objects; DISPLAY units converted to image pixels through the
displayed area and spatial transformation), Image Rotation and Image Horizontal Flip, and the
Displayed Area Selection Sequence.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

from pydicom.dataset import Dataset

from detector.errors import PneumoViewError
from detector.gsps.geometry import area_rect, display_to_pixels
from detector.gsps.model import (
    GRAPHIC_TYPES,
    GSPS_SOP_CLASS,
    SIZE_MODES,
    Annotation,
    DisplayedArea,
    Graphic,
    ImageRef,
    Point,
    PresentationState,
    Text,
    Voi,
    VoiLut,
    applies_to,
)
from detector.imaging.lut import Window, _lut_table, lut_problem

#: Most graphic points read from one state (a hostile file cannot exhaust memory).
MAX_POINTS = 1_000_000
#: Most items read from one sequence.
MAX_ITEMS = 10_000


class GspsError(PneumoViewError):
    """A presentation state that cannot be used; ``str(err)`` is ``"<file>: <reason>"``."""


class _Bad(Exception):
    """A reason, raised inside the parser and turned into one :class:`GspsError`."""


def is_gsps(ds: Dataset) -> bool:
    """Whether a header is a Grayscale Softcopy Presentation State."""
    return str(ds.get("SOPClassUID", "") or "").strip() == GSPS_SOP_CLASS


def read_gsps(source: str | os.PathLike[str] | Dataset, path: str = "") -> PresentationState:
    """Read a GSPS file (or an already read dataset, with the ``path`` it came from).

    Raises
    ------
    GspsError
        The file cannot be read, is not a GSPS, or holds a value that cannot be used.
    """
    if isinstance(source, Dataset):
        ds, where = source, path or str(getattr(source, "filename", "") or "presentation state")
    else:
        from detector.imaging.read import DicomReadError, read_header

        where = str(source)
        try:
            ds = read_header(where)
        except DicomReadError as err:
            raise GspsError(where, err.reason) from None
    try:
        return _parse(ds, where)
    except _Bad as bad:
        raise GspsError(where, str(bad)) from None
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, OverflowError) as exc:
        # A value pydicom cannot even convert (a damaged DS, a wrong VR).
        raise GspsError(where, f"a value cannot be read ({type(exc).__name__}: {exc})") from None


# -- parsing ----------------------------------------------------------------------------------


def _items(ds: Dataset, keyword: str, tag: str, *, required: bool = False) -> Sequence[Dataset]:
    seq = ds.get(keyword)
    if seq is None or len(seq) == 0:
        if required:
            raise _Bad(f"{tag} {keyword} is missing or empty")
        return []
    if len(seq) > MAX_ITEMS:
        raise _Bad(f"{tag} {keyword} has {len(seq)} items (more than {MAX_ITEMS})")
    return list(seq)


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    return "" if value is None else str(value).strip()


def _floats(ds: Dataset, keyword: str, tag: str, count: int | None = None) -> list[float]:
    value = ds.get(keyword)
    if value is None or value == "":
        raise _Bad(f"{tag} {keyword} is missing")
    items = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]
    try:
        out = [float(v) for v in items]
    except (TypeError, ValueError):
        raise _Bad(f"{tag} {keyword} is not numbers ({_short(value)})") from None
    if not all(math.isfinite(v) for v in out):
        raise _Bad(f"{tag} {keyword} is not finite ({_short(value)})")
    if count is not None and len(out) != count:
        raise _Bad(f"{tag} {keyword} has {len(out)} values, not {count}")
    return out


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _refs(item: Dataset) -> tuple[ImageRef, ...]:
    out = []
    for ref in _items(item, "ReferencedImageSequence", "(0008,1140)"):
        uid = _text(ref, "ReferencedSOPInstanceUID")
        if not uid:
            raise _Bad("(0008,1155) Referenced SOP Instance UID is missing in a referenced image")
        frames = ref.get("ReferencedFrameNumber")
        numbers: tuple[int, ...] = ()
        if frames not in (None, ""):
            values = (
                list(frames)
                if isinstance(frames, Sequence) and not isinstance(frames, str)
                else [frames]
            )
            try:
                numbers = tuple(int(v) for v in values)
            except (TypeError, ValueError):
                raise _Bad(
                    f"(0008,1160) Referenced Frame Number is not whole numbers ({_short(frames)})"
                ) from None
            if any(n < 1 for n in numbers):
                raise _Bad(f"(0008,1160) Referenced Frame Number is below 1 ({_short(frames)})")
        out.append(ImageRef(uid, numbers))
    return tuple(out)


def _parse(ds: Dataset, where: str) -> PresentationState:
    sop_class = _text(ds, "SOPClassUID")
    if sop_class != GSPS_SOP_CLASS:
        raise _Bad(
            f"not a Grayscale Softcopy Presentation State ((0008,0016) SOP Class UID "
            f"{sop_class or 'missing'})"
        )
    refs: list[ImageRef] = []
    for series in _items(ds, "ReferencedSeriesSequence", "(0008,1115)", required=True):
        refs.extend(_refs(series))
    if not refs:
        raise _Bad("(0008,1115) Referenced Series Sequence references no image")
    rotation = _rotation(ds)
    flip = _text(ds, "ImageHorizontalFlip").upper() == "Y"
    areas = tuple(
        _area(item) for item in _items(ds, "DisplayedAreaSelectionSequence", "(0070,005A)")
    )
    budget = [MAX_POINTS]
    annotations = tuple(
        _annotation(item, areas, rotation, flip, budget)
        for item in _items(ds, "GraphicAnnotationSequence", "(0070,0001)")
    )
    shape_name = _text(ds, "PresentationLUTShape").upper()
    if shape_name not in ("", "IDENTITY", "INVERSE"):
        raise _Bad(f"(2050,0020) Presentation LUT Shape is {shape_name!r}, not IDENTITY or INVERSE")
    return PresentationState(
        path=where,
        sop_instance_uid=_text(ds, "SOPInstanceUID"),
        label=_text(ds, "ContentLabel"),
        description=_text(ds, "ContentDescription"),
        refs=tuple(refs),
        vois=tuple(_voi(item) for item in _items(ds, "SoftcopyVOILUTSequence", "(0028,3110)")),
        inverse=shape_name == "INVERSE",
        annotations=annotations,
        rotation=rotation,
        flip=flip,
        areas=areas,
    )


def _rotation(ds: Dataset) -> int:
    value = ds.get("ImageRotation")
    if value in (None, ""):
        return 0
    try:
        rotation = int(value)
    except (TypeError, ValueError):
        raise _Bad(f"(0070,0042) Image Rotation is not a number ({_short(value)})") from None
    if rotation not in (0, 90, 180, 270):
        raise _Bad(f"(0070,0042) Image Rotation is {rotation}, not 0, 90, 180 or 270")
    return rotation


def _voi(item: Dataset) -> Voi:
    refs = _refs(item)
    luts = _items(item, "VOILUTSequence", "(0028,3010)")
    if luts:
        lut = luts[0]
        problem = lut_problem(lut)
        if problem is not None:
            raise _Bad(f"(0028,3010) VOI LUT Sequence: {problem}")
        table = _lut_table(lut)
        first = int(lut.LUTDescriptor[1])
        bits = int(lut.LUTDescriptor[2])
        if not 1 <= bits <= 16:
            raise _Bad(f"(0028,3002) LUT Descriptor bits is {bits}, not 1 to 16")
        return Voi(refs, lut=VoiLut(first, bits, table, _text(lut, "LUTExplanation")))
    if "WindowCenter" not in item and "WindowWidth" not in item:
        raise _Bad("(0028,3110) Softcopy VOI LUT Sequence item has neither a window nor a VOI LUT")
    center = _floats(item, "WindowCenter", "(0028,1050)")[0]
    width = _floats(item, "WindowWidth", "(0028,1051)")[0]
    function = _text(item, "VOILUTFunction").upper() or "LINEAR"
    if function not in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
        raise _Bad(f"(0028,1056) VOI LUT Function is {function!r}")
    if width <= 0 or (function == "LINEAR" and width < 1):
        raise _Bad(f"(0028,1051) Window Width is {width:g}, too small for {function}")
    explanation = item.get("WindowCenterWidthExplanation", "")
    if not isinstance(explanation, str):
        explanation = str(list(explanation)[0]) if explanation else ""
    return Voi(refs, window=Window(center, width, function=function, name=explanation.strip()))


def _area(item: Dataset) -> DisplayedArea:
    tl = _floats(item, "DisplayedAreaTopLeftHandCorner", "(0070,0052)", 2)
    br = _floats(item, "DisplayedAreaBottomRightHandCorner", "(0070,0053)", 2)
    mode = _text(item, "PresentationSizeMode").upper() or "SCALE TO FIT"
    if mode not in SIZE_MODES:
        raise _Bad(f"(0070,0100) Presentation Size Mode is {mode!r}")
    magnification = 1.0
    if mode == "MAGNIFY":
        magnification = _floats(item, "PresentationPixelMagnificationRatio", "(0070,0103)")[0]
        if not 0.0 < magnification <= 1000.0:
            raise _Bad(f"(0070,0103) Presentation Pixel Magnification Ratio is {magnification:g}")
    top_left = (int(tl[0]), int(tl[1]))
    bottom_right = (int(br[0]), int(br[1]))
    if top_left == bottom_right and top_left[0] < 1:
        raise _Bad("(0070,0052) Displayed Area is empty")
    return DisplayedArea(_refs(item), top_left, bottom_right, mode, magnification)


def _converter(
    units: str,
    refs: tuple[ImageRef, ...],
    areas: tuple[DisplayedArea, ...],
    rotation: int,
    flip: bool,
    tag: str,
) -> Callable[[Sequence[Point]], tuple[Point, ...]]:
    if units == "PIXEL":
        return lambda pts: tuple(pts)
    if units != "DISPLAY":
        raise _Bad(f"{tag} annotation units are {units or 'missing'!r}, not PIXEL or DISPLAY")
    first = refs[0] if refs else None
    area = next(
        (a for a in areas if first is None or applies_to(a.refs, first.sop_instance_uid, None)),
        None,
    )
    if area is None:
        raise _Bad(f"{tag} DISPLAY units without a Displayed Area Selection for the image")
    rect = area_rect(area, (0, 0))
    return lambda pts: display_to_pixels(pts, rect, rotation, flip)


def _points(values: list[float], budget: list[int], tag: str) -> tuple[Point, ...]:
    if len(values) % 2:
        raise _Bad(f"{tag} has an odd number of coordinates ({len(values)})")
    budget[0] -= len(values) // 2
    if budget[0] < 0:
        raise _Bad(f"more than {MAX_POINTS} graphic points")
    return tuple(zip(values[0::2], values[1::2], strict=True))


_MIN_POINTS = {"POINT": 1, "POLYLINE": 2, "INTERPOLATED": 2, "CIRCLE": 2, "ELLIPSE": 4}


def _annotation(
    item: Dataset,
    areas: tuple[DisplayedArea, ...],
    rotation: int,
    flip: bool,
    budget: list[int],
) -> Annotation:
    refs = _refs(item)
    graphics = []
    for obj in _items(item, "GraphicObjectSequence", "(0070,0009)"):
        kind = _text(obj, "GraphicType").upper()
        if kind not in GRAPHIC_TYPES:
            raise _Bad(f"(0070,0023) Graphic Type is {kind or 'missing'!r}")
        units = _text(obj, "GraphicAnnotationUnits").upper()
        convert = _converter(units, refs, areas, rotation, flip, "(0070,0005)")
        points = _points(
            _floats(obj, "GraphicData", "(0070,0022)"), budget, "(0070,0022) Graphic Data"
        )
        declared = obj.get("NumberOfGraphicPoints")
        if declared not in (None, "") and int(declared) != len(points):
            raise _Bad(
                f"(0070,0021) Number of Graphic Points is {int(declared)} but (0070,0022) "
                f"Graphic Data holds {len(points)}"
            )
        if len(points) < _MIN_POINTS[kind] or (kind in ("CIRCLE",) and len(points) != 2):
            raise _Bad(f"(0070,0022) Graphic Data: a {kind} with {len(points)} point(s)")
        if kind == "ELLIPSE" and len(points) != 4:
            raise _Bad(f"(0070,0022) Graphic Data: an ELLIPSE with {len(points)} points, not 4")
        filled = _text(obj, "GraphicFilled").upper() == "Y"
        graphics.append(Graphic(kind, convert(points), filled))
    texts = []
    for obj in _items(item, "TextObjectSequence", "(0070,0008)"):
        value = _text(obj, "UnformattedTextValue")
        box = anchor = None
        if "BoundingBoxTopLeftHandCorner" in obj:
            convert = _converter(
                _text(obj, "BoundingBoxAnnotationUnits").upper(),
                refs,
                areas,
                rotation,
                flip,
                "(0070,0003)",
            )
            tl = _floats(obj, "BoundingBoxTopLeftHandCorner", "(0070,0010)", 2)
            br = _floats(obj, "BoundingBoxBottomRightHandCorner", "(0070,0011)", 2)
            (p, q) = convert([(tl[0], tl[1]), (br[0], br[1])])
            box = (p, q)
        if "AnchorPoint" in obj:
            convert = _converter(
                _text(obj, "AnchorPointAnnotationUnits").upper(),
                refs,
                areas,
                rotation,
                flip,
                "(0070,0004)",
            )
            xy = _floats(obj, "AnchorPoint", "(0070,0014)", 2)
            anchor = convert([(xy[0], xy[1])])[0]
        if box is None and anchor is None:
            raise _Bad("(0070,0008) a text object has neither a bounding box nor an anchor point")
        texts.append(Text(value, box, anchor))
    return Annotation(_text(item, "GraphicLayer"), refs, tuple(graphics), tuple(texts))


__all__ = ["GspsError", "is_gsps", "read_gsps"]
