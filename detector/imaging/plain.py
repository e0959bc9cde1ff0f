"""Plain PNG / JPEG chest images (NIH ChestX-ray14, CheXpert, ``convert`` output) as inputs.

These files have no DICOM header. :func:`read_plain_header` builds a small stand-in header from
what the file itself says (size, bit depth, grey or colour) with the file stem as Patient ID, so
the scan, the viewer and the detector handle them like any other image. Nothing in it is
invented: no UIDs, no pixel spacing, no window. Files are recognised by content (PNG signature,
JPEG SOI marker), never by extension.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset

from detector.errors import PneumoViewError

if TYPE_CHECKING:
    from PIL.ImageFile import ImageFile

#: Signature -> format name.
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"))
#: Python attribute (not a DICOM element) that marks a stand-in header.
_MARK = "_pneumoview_plain_format"
#: Shown where a tool needs millimetres.
NO_SPACING = "not DICOM: no pixel spacing"


class PlainImageError(PneumoViewError):
    """A PNG/JPEG file that cannot be read; ``str(err)`` is ``"<file name>: <reason>"``."""


def sniff_format(path: str | os.PathLike[str]) -> str | None:
    """``"PNG"`` or ``"JPEG"`` from the first bytes of the file, else ``None``.

    Only call this on a regular file: opening a FIFO blocks.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        return None
    for signature, name in _SIGNATURES:
        if head.startswith(signature):
            return name
    return None


def plain_format(ds: Dataset) -> str | None:
    """The format of a stand-in header (``"PNG"`` / ``"JPEG"``), ``None`` for a DICOM header."""
    value = getattr(ds, _MARK, None)
    return str(value) if value else None


def _open(path: str, fmt: str) -> ImageFile:
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(path, formats=[fmt])
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise PlainImageError(path, f"damaged {fmt} image ({_pil_reason(exc)})") from None


def _pil_reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if "cannot identify image file" in text:
        return "Pillow cannot read its header"
    return text or "Pillow cannot read it"


def _grey_mode(mode: str) -> tuple[int, int] | None:
    """(bits allocated, bits stored) for a grey Pillow mode, ``None`` for colour."""
    if mode in ("L", "LA", "1", "P"):
        return (8, 8) if mode != "P" else None
    if mode.startswith("I;16"):
        return 16, 16
    if mode in ("I", "F"):
        return 32, 32
    return None


def _header(path: str, fmt: str, size: tuple[int, int], mode: str) -> Dataset:
    width, height = size
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.PatientID = Path(path).stem
    ds.Rows = int(height)
    ds.Columns = int(width)
    bits = _grey_mode(mode)
    if bits is None:
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "RGB"
        bits = (8, 8)
    else:
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored = bits
    ds.HighBit = bits[1] - 1
    ds.PixelRepresentation = 0
    ds.ImageComments = f"{fmt} file, not DICOM (Pillow mode {mode})"
    ds.filename = path
    object.__setattr__(ds, _MARK, fmt)
    return ds


def read_plain_header(path: str, fmt: str) -> Dataset:
    """Stand-in header (size and bit depth only; the pixels are not decoded)."""
    with _open(path, fmt) as img:
        return _header(path, fmt, img.size, img.mode)


def read_plain_image(path: str, fmt: str) -> tuple[Dataset, np.ndarray]:
    """Stand-in header and stored pixels.

    Returns
    -------
    header : Dataset
        As :func:`read_plain_header`, updated for the decoded array.
    stored : ndarray
        uint8 or uint16 (rows, cols) for grey, uint8 (rows, cols, 3) for colour. A colour file
        whose three channels are equal is returned as grey.
    """
    with _open(path, fmt) as img:
        try:
            img.load()
            mode = img.mode
            if mode in ("LA", "1"):
                arr = np.array(img.convert("L"))
            elif mode == "P" or _grey_mode(mode) is None:
                arr = np.array(img.convert("RGB"))
            else:
                arr = np.array(img)
        except (OSError, ValueError, SyntaxError) as exc:
            raise PlainImageError(path, f"damaged {fmt} image ({_pil_reason(exc)})") from None
    if arr.ndim == 3:
        if np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 0], arr[..., 2]):
            arr = np.ascontiguousarray(arr[..., 0])
    if arr.dtype.kind == "i" and arr.size and arr.min() >= 0 and arr.max() <= 0xFFFF:
        arr = arr.astype(np.uint16)
    elif arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    if arr.ndim == 2:
        mode_after = "L" if arr.dtype == np.uint8 else "I;16" if arr.dtype == np.uint16 else "I"
    else:
        mode_after = "RGB"
    header = _header(path, fmt, (arr.shape[1], arr.shape[0]), mode_after)
    header.ImageComments = f"{fmt} file, not DICOM (Pillow mode {mode})"
    return header, arr
