"""The plain values of a Grayscale Softcopy Presentation State (no pydicom objects but the LUT).

Coordinates are image pixels in the PS3.3 C.10.5.1.2 ``PIXEL`` convention: ``(x, y)`` =
``(column, row)`` with ``(0, 0)`` the top-left corner of the top-left pixel and
``(Columns, Rows)`` the bottom-right corner of the last pixel; the same convention as the
review's boxes and the canvas's ImageItem. Frames are 1-based, as in DICOM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from detector.imaging.lut import VoiTable, Window

#: The SOP Class UID of a Grayscale Softcopy Presentation State.
GSPS_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.11.1"
#: The graphic types read (PS3.3 C.10.5.1.2 Graphic Type).
GRAPHIC_TYPES = ("POINT", "POLYLINE", "INTERPOLATED", "CIRCLE", "ELLIPSE")
#: Presentation Size Mode values (PS3.3 C.10.4).
SIZE_MODES = ("SCALE TO FIT", "TRUE SIZE", "MAGNIFY")

Point = tuple[float, float]


@dataclass(frozen=True)
class ImageRef:
    """One referenced image: its SOP Instance UID and frames (1-based; empty: every frame)."""

    sop_instance_uid: str
    frames: tuple[int, ...] = ()

    def covers(self, sop_instance_uid: str, frame: int | None = None) -> bool:
        """Whether this reference applies to an image (and a 1-based frame, when given)."""
        if sop_instance_uid != self.sop_instance_uid:
            return False
        return frame is None or not self.frames or frame in self.frames


def applies_to(refs: tuple[ImageRef, ...], sop_instance_uid: str, frame: int | None) -> bool:
    """Whether a module item with these references applies (no references: every image)."""
    return not refs or any(r.covers(sop_instance_uid, frame) for r in refs)


@dataclass(frozen=True)
class VoiLut:
    """A VOI LUT (PS3.3 C.11.2.1.1): the first stored value mapped, bits, and the table."""

    first_mapped: int
    bits: int
    data: np.ndarray = field(compare=False)
    explanation: str = ""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VoiLut):
            return NotImplemented
        return (self.first_mapped, self.bits, self.explanation) == (
            other.first_mapped,
            other.bits,
            other.explanation,
        ) and np.array_equal(self.data, other.data)

    __hash__ = None  # type: ignore[assignment]

    @cached_property
    def table(self) -> VoiTable:
        """The LUT as the pixel pipeline's VOI override (one object per LUT: a stable cache key)."""
        return VoiTable(self.first_mapped, self.bits, self.data, self.explanation)


@dataclass(frozen=True)
class Voi:
    """One Softcopy VOI LUT Sequence item: a window or a VOI LUT, and the images it applies to."""

    refs: tuple[ImageRef, ...]
    window: Window | None = None
    lut: VoiLut | None = None

    def choice(self, name: str = "") -> Window | None:
        """The VOI as one :class:`Window` for :func:`detector.imaging.render.render`.

        ``name`` labels it when the state gives it no explanation of its own.
        """
        if self.window is not None:
            w = self.window
            return Window(w.center, w.width, function=w.function, name=w.name or name)
        if self.lut is not None:
            return Window.from_table(self.lut.table, self.lut.explanation or name)
        return None


@dataclass(frozen=True)
class Graphic:
    """A graphic object in image pixels (DISPLAY units already converted)."""

    kind: str
    points: tuple[Point, ...]
    filled: bool = False


@dataclass(frozen=True)
class Text:
    """A text object in image pixels: its text, bounding box and/or anchor point."""

    text: str
    box: tuple[Point, Point] | None = None
    anchor: Point | None = None


@dataclass(frozen=True)
class Annotation:
    """One Graphic Annotation Sequence item: a layer, its images, graphics and texts."""

    layer: str
    refs: tuple[ImageRef, ...]
    graphics: tuple[Graphic, ...] = ()
    texts: tuple[Text, ...] = ()


@dataclass(frozen=True)
class DisplayedArea:
    """One Displayed Area Selection item (PS3.3 C.10.4), in 1-based image pixels.

    ``top_left`` and ``bottom_right`` are ``(column, row)`` of the pixels shown at the top-left
    and bottom-right corners *after* the spatial transformation, counted in the image before it.
    """

    refs: tuple[ImageRef, ...]
    top_left: tuple[int, int]
    bottom_right: tuple[int, int]
    size_mode: str = "SCALE TO FIT"
    magnification: float = 1.0


@dataclass(frozen=True)
class PresentationState:
    """A GSPS read by :func:`detector.gsps.read.read_gsps`.

    ``rotation`` is clockwise degrees (0, 90, 180, 270) applied after ``flip`` (Image
    Horizontal Flip), as PS3.3 C.10.6 orders them; ``inverse`` is Presentation LUT Shape
    INVERSE. ``label`` is the Content Label, ``description`` the Content Description.
    """

    path: str
    sop_instance_uid: str
    label: str
    description: str
    refs: tuple[ImageRef, ...]
    vois: tuple[Voi, ...] = ()
    inverse: bool = False
    annotations: tuple[Annotation, ...] = ()
    rotation: int = 0
    flip: bool = False
    areas: tuple[DisplayedArea, ...] = ()

    def references(self, sop_instance_uid: str) -> bool:
        """Whether the state references an image (any of its frames)."""
        return any(r.sop_instance_uid == sop_instance_uid for r in self.refs)

    def voi_for(self, sop_instance_uid: str, frame: int = 1) -> Voi | None:
        """The VOI that applies to an image's 1-based frame (None: the image's own)."""
        return next((v for v in self.vois if applies_to(v.refs, sop_instance_uid, frame)), None)

    def area_for(self, sop_instance_uid: str, frame: int = 1) -> DisplayedArea | None:
        """The displayed area that applies to an image's 1-based frame."""
        return next((a for a in self.areas if applies_to(a.refs, sop_instance_uid, frame)), None)

    def annotations_for(self, sop_instance_uid: str, frame: int = 1) -> list[Annotation]:
        """The annotations drawn on an image's 1-based frame."""
        return [a for a in self.annotations if applies_to(a.refs, sop_instance_uid, frame)]

    def title(self) -> str:
        """One line naming the state for a menu: its label and description."""
        parts = [self.label or "(no label)"]
        if self.description:
            parts.append(self.description)
        return " \u2014 ".join(parts)
