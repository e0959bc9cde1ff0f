"""Overlay planes (PS3.3 C.9.2 Overlay Plane, C.9.3 Multi-frame Overlay) as plain bool masks.

Every plane of an image (the even groups 6000-601E) is read into an :class:`OverlayPlane`: its
own rows/columns, its 1-based Overlay Origin (which may lie partly or wholly outside the
image), its type (``"G"`` graphics, ``"R"`` ROI), description and one bool mask per overlay
frame. Planes come from *Overlay Data* (60xx,3000), unpacked by pydicom's
:func:`pydicom.overlays.get_overlay_array`, or, in old files with no *Overlay Data*, from an
unused high bit of the native pixel data (Overlay Bits Allocated > 1, Overlay Bit Position).

A plane that cannot be read is skipped with one line in :attr:`Overlays.problems`; reading the
overlays never raises, and never stops the image from being shown.

Frames: with *Number of Frames in Overlay*, overlay frame ``k`` belongs to image frame
``Image Frame Origin - 1 + k``; without it the one overlay frame belongs to every image frame.
High-bit planes of a multi-frame image have one mask per image frame.

Drawing (:func:`draw_planes`) follows DCMTK's ``dcmj2pnm`` defaults, plane by plane in group
order: a graphics plane replaces the pixels under its set bits with white; an ROI plane keeps
the pixels of its region (set bits) and dims the rest of its rectangle to 1/16 (``value >> 4``
of the 8-bit display value). PS3.3 C.9.2.1.1 defines ROI planes but leaves how they are
displayed open; drawing them as dcmj2pnm does keeps ``convert --overlays`` comparable with it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.overlays import get_overlay_array

from detector.imaging.decode_errors import short_reason
from detector.imaging.limits import max_pixel_bytes, size_text
from detector.imaging.read import DicomReadError, number_of_frames, read_dataset

#: The repeating groups that can hold an overlay plane (PS3.5 7.6: even groups 6000-601E).
OVERLAY_GROUPS = tuple(range(0x6000, 0x601F, 2))
#: ROI planes dim the pixels outside their region by this many bits (dcmj2pnm: half of 8 bits).
ROI_DIM_BITS = 4
#: Transfer syntaxes whose pixel data are stored as plain little/big-endian words.
_NATIVE_SYNTAXES = {
    "1.2.840.10008.1.2": "<",
    "1.2.840.10008.1.2.1": "<",
    "1.2.840.10008.1.2.1.99": "<",
    "1.2.840.10008.1.2.2": ">",
}


@dataclass(frozen=True)
class OverlayPlane:
    """One overlay plane of an image.

    Attributes
    ----------
    group : int
        The repeating group, ``0x6000`` to ``0x601E``.
    rows, columns : int
        The plane's own size (Overlay Rows, Overlay Columns).
    origin : tuple of int
        Overlay Origin: 1-based ``(row, column)`` of the plane's first pixel in the image; may be
        below 1 or beyond the image (the outside part is clipped when composed).
    type : str
        Overlay Type, ``"G"`` (graphics) or ``"R"`` (ROI).
    description : str
        Overlay Description (or Overlay Label when there is no description), may be empty.
    masks : tuple of numpy.ndarray
        One bool array ``(rows, columns)`` per overlay frame.
    first_frame : int
        0-based image frame of ``masks[0]`` (Image Frame Origin - 1).
    all_frames : bool
        True when the plane has no Number of Frames in Overlay: its one mask is on every frame.
    embedded : bool
        True when the plane was read from a high bit of the pixel data.
    """

    group: int
    rows: int
    columns: int
    origin: tuple[int, int]
    type: str
    description: str
    masks: tuple[np.ndarray, ...]
    first_frame: int = 0
    all_frames: bool = True
    embedded: bool = False

    @property
    def frames(self) -> int:
        """Number of overlay frames."""
        return len(self.masks)

    def mask_for_frame(self, frame: int) -> np.ndarray | None:
        """The plane's mask on 0-based image frame ``frame``, or None when it has none there."""
        if self.all_frames:
            return self.masks[0]
        k = frame - self.first_frame
        if 0 <= k < len(self.masks):
            return self.masks[k]
        return None


@dataclass(frozen=True)
class Overlays:
    """The readable overlay planes of an image and one line per plane that was skipped."""

    planes: tuple[OverlayPlane, ...] = ()
    problems: tuple[str, ...] = ()


class _PlaneError(ValueError):
    """A plane that cannot be read; the message is the reason."""


def _int(ds: Dataset, group: int, elem: int, name: str, default: int | None = None) -> int:
    found = ds.get((group, elem))
    value: Any = None if found is None else found.value
    if value is None or value == "":
        if default is None:
            raise _PlaneError(f"no {name}")
        return default
    if isinstance(value, list | tuple | MultiValue):
        value = value[0] if len(value) else None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _PlaneError(f"{name} {value!r} is not a number") from None


def _text(ds: Dataset, group: int, elem: int) -> str:
    value = ds.get((group, elem))
    if value is None or value.value is None:
        return ""
    return str(value.value).strip()


def _origin(ds: Dataset, group: int) -> tuple[int, int]:
    elem = ds.get((group, 0x0050))
    value = None if elem is None else elem.value
    if value is None or value == "":
        return (1, 1)  # Type 1, but old files leave it out: the plane starts at the image's corner
    try:
        row, col = (int(v) for v in value)
    except (TypeError, ValueError):
        raise _PlaneError(f"Overlay Origin {value!r} is not two numbers") from None
    return (row, col)


def _check_size(rows: int, columns: int, frames: int) -> None:
    if rows < 1 or columns < 1:
        raise _PlaneError(f"Overlay Rows/Columns {rows} x {columns} is not a size")
    if frames < 1:
        raise _PlaneError(f"Number of Frames in Overlay {frames} is not a count")
    if rows * columns * frames > max_pixel_bytes():
        raise _PlaneError(
            f"{rows} x {columns} x {frames} overlay is larger than {size_text(max_pixel_bytes())}"
        )


def _from_overlay_data(ds: Dataset, group: int, rows: int, columns: int) -> np.ndarray:
    frames = _int(ds, group, 0x0015, "Number of Frames in Overlay", 1)
    _check_size(rows, columns, frames)
    needed = (rows * columns * frames + 7) // 8
    have = len(ds[group, 0x3000].value or b"")
    if have < needed:
        raise _PlaneError(
            f"Overlay Data is {have} bytes, a {rows} x {columns} x {frames} plane needs {needed}"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # odd length / excess padding: read what is there
        try:
            arr = get_overlay_array(ds, group)
        except Exception as exc:  # noqa: BLE001 - pydicom raises ValueError/AttributeError/...
            raise _PlaneError(short_reason(exc)) from None
    return np.asarray(arr, dtype=bool).reshape(frames, rows, columns)


_PixelSource = Callable[[], Dataset]


def _pixel_source(ds: Dataset) -> _PixelSource:
    """A loader of the dataset that holds the pixel data: ``ds`` itself, or, for a header read
    without its pixels (the viewer's), its file read again once, when a high-bit plane needs it.
    """
    cache: list[Dataset] = []

    def load() -> Dataset:
        if "PixelData" in ds:
            return ds
        if not cache:
            filename = getattr(ds, "filename", None)
            if not isinstance(filename, str | os.PathLike) or not str(filename):
                raise _PlaneError("the overlay bits are in pixel data that is not at hand")
            try:
                full = read_dataset(filename)
            except DicomReadError as exc:
                raise _PlaneError(
                    f"the pixel data that holds it cannot be read ({exc.reason})"
                ) from None
            cache.append(full)
        return cache[0]

    return load


def _from_pixel_bits(
    ds: Dataset, group: int, rows: int, columns: int, pixels: _PixelSource
) -> np.ndarray:
    bit = _int(ds, group, 0x0102, "Overlay Bit Position")
    allocated = _int(ds, 0x0028, 0x0100, "Bits Allocated")
    stored = _int(ds, 0x0028, 0x0101, "Bits Stored", allocated)
    high = _int(ds, 0x0028, 0x0102, "High Bit", stored - 1)
    if allocated not in (8, 16) or not 0 <= bit < allocated:
        raise _PlaneError(f"Overlay Bit Position {bit} is not a bit of {allocated}-bit pixels")
    if high - stored + 1 <= bit <= high:
        raise _PlaneError(f"Overlay Bit Position {bit} lies inside the stored pixel bits")
    img_rows = _int(ds, 0x0028, 0x0010, "Rows")
    img_cols = _int(ds, 0x0028, 0x0011, "Columns")
    if (rows, columns) != (img_rows, img_cols):
        raise _PlaneError(
            f"overlay in the pixel data is {rows} x {columns} but the image is "
            f"{img_rows} x {img_cols}"
        )
    if _int(ds, 0x0028, 0x0002, "Samples per Pixel", 1) != 1:
        raise _PlaneError("overlay bits in colour pixel data are not supported")
    syntax = str(getattr(ds, "file_meta", Dataset()).get("TransferSyntaxUID", "1.2.840.10008.1.2"))
    order = _NATIVE_SYNTAXES.get(syntax)
    if order is None:
        raise _PlaneError("overlay bits are only read from uncompressed pixel data")
    ds = pixels()
    if "PixelData" not in ds or ds["PixelData"].is_undefined_length:
        raise _PlaneError("overlay bits are only read from uncompressed pixel data")
    frames = number_of_frames(ds)
    _check_size(rows, columns, frames)
    count = rows * columns * frames
    data = ds.PixelData
    dtype = np.dtype(f"{order}u{allocated // 8}")
    if len(data) < count * dtype.itemsize:
        raise _PlaneError("pixel data is shorter than the image it declares")
    words = np.frombuffer(data, dtype=dtype, count=count)
    return ((words >> bit) & 1).astype(bool).reshape(frames, rows, columns)


def _read_plane(ds: Dataset, group: int, pixels: _PixelSource) -> OverlayPlane:
    rows = _int(ds, group, 0x0010, "Overlay Rows")
    columns = _int(ds, group, 0x0011, "Overlay Columns")
    origin = _origin(ds, group)
    kind = _text(ds, group, 0x0040).upper() or "G"
    description = _text(ds, group, 0x0022) or _text(ds, group, 0x1500)
    embedded = (group, 0x3000) not in ds
    if embedded:
        masks = _from_pixel_bits(ds, group, rows, columns, pixels)
        all_frames = number_of_frames(ds) == 1
        first = 0
    else:
        masks = _from_overlay_data(ds, group, rows, columns)
        all_frames = (group, 0x0015) not in ds
        first = _int(ds, group, 0x0051, "Image Frame Origin", 1) - 1
    return OverlayPlane(
        group=group,
        rows=rows,
        columns=columns,
        origin=origin,
        type=kind,
        description=description,
        masks=tuple(np.ascontiguousarray(m) for m in masks),
        first_frame=first,
        all_frames=all_frames,
        embedded=embedded,
    )


def _has_plane(ds: Dataset, group: int) -> bool:
    return (group, 0x3000) in ds or (group, 0x0010) in ds or (group, 0x0102) in ds


def read_overlays(ds: Dataset) -> Overlays:
    """Every overlay plane of ``ds`` (with its pixel data, for planes kept in high bits).

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        The image's dataset, as read from the file. A header without its pixel data (as
        :class:`detector.imaging.decode.DicomImage` keeps it) is enough: a plane kept in high
        pixel bits then reads the pixel data from ``ds.filename``, once.

    Returns
    -------
    Overlays
        The planes in group order, and one line per skipped plane
        (``"overlay 6002 skipped: <reason>"``). Never raises for a damaged plane.
    """
    planes: list[OverlayPlane] = []
    problems: list[str] = []
    pixels = _pixel_source(ds)
    for group in OVERLAY_GROUPS:
        try:
            if not _has_plane(ds, group):
                continue
            planes.append(_read_plane(ds, group, pixels))
        except _PlaneError as exc:
            problems.append(f"overlay {group:04X} skipped: {exc}")
        except Exception as exc:  # noqa: BLE001 - one damaged plane never hides the image
            problems.append(f"overlay {group:04X} skipped: {short_reason(exc)}")
    return Overlays(tuple(planes), tuple(problems))


def place_plane(
    plane: OverlayPlane, frame: int, shape: tuple[int, int]
) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """Where ``plane``'s mask of ``frame`` lands in an image of ``shape``, clipped: the image's
    slices and the matching part of the mask (None when nothing of it is inside)."""
    mask = plane.mask_for_frame(frame)
    if mask is None:
        return None
    height, width = shape
    top, left = plane.origin[0] - 1, plane.origin[1] - 1
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + mask.shape[0], height), min(left + mask.shape[1], width)
    if r0 >= r1 or c0 >= c1:
        return None
    return (slice(r0, r1), slice(c0, c1)), mask[r0 - top : r1 - top, c0 - left : c1 - left]


def compose_mask(planes: Sequence[OverlayPlane], frame: int, shape: tuple[int, int]) -> np.ndarray:
    """One bool mask of ``shape`` (image rows, columns) with every plane of ``frame`` placed.

    Each plane is placed with its first pixel at its 1-based Overlay Origin; the parts outside
    the image are clipped (a plane wholly outside adds nothing).
    """
    out = np.zeros(shape, dtype=bool)
    for plane in planes:
        placed = place_plane(plane, frame, shape)
        if placed is not None:
            out[placed[0]] |= placed[1]
    return out


def burn_overlays(display: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A copy of 8-bit ``display`` (grey or RGB) set to 255 where ``mask`` is set (dcmj2pnm's default)."""
    out = display.copy()
    out[mask] = 255
    return out


def draw_planes(display: np.ndarray, planes: Sequence[OverlayPlane], frame: int) -> np.ndarray:
    """A copy of 8-bit ``display`` (grey or RGB) with the planes of ``frame`` drawn as dcmj2pnm
    draws them by default, plane after plane in group order.

    A graphics (``"G"``) plane sets the pixels under its set bits to 255. An ROI (``"R"``) plane
    keeps the pixels of its region (set bits) and dims every other pixel of its (clipped)
    rectangle to ``value >> 4``. Pixels outside every plane are unchanged.
    """
    out = display.copy()
    shape = (int(display.shape[0]), int(display.shape[1]))
    for plane in planes:
        placed = place_plane(plane, frame, shape)
        if placed is None:
            continue
        where, mask = placed
        region = out[where]
        if plane.type == "R":
            region[~mask] >>= ROI_DIM_BITS
        else:
            region[mask] = 255
    return out
