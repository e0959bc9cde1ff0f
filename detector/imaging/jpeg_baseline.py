"""Grey 8-bit JPEG Baseline frames through libjpeg-turbo (simplejpeg), checked strictly.

Nearly every chest X-ray in the RSNA format is a grey 8-bit JPEG Baseline image. pydicom's first
decoder for it, pylibjpeg-libjpeg (the ISO reference libjpeg), is about 5x slower than libjpeg-turbo
and its pixels differ by one grey level in about 3% of a radiograph's pixels from those of the
IJG libjpeg that DCMTK's ``dcmj2pnm`` (the reference renderer), Pillow and browsers use;
libjpeg-turbo's are bit-identical to DCMTK's. So :func:`decode_grey_baseline` decodes these
frames, and :func:`detector.imaging.decode.load_image` (the one pixel pipeline of the viewer,
``detect`` and training) uses it first.

libjpeg-turbo runs in strict mode: a stream it can only decode by patching over damage ("Corrupt
JPEG data", "Premature end of JPEG file") is not accepted here. The caller then falls back to
pydicom's own decoders, which either refuse it (the error the reader sees) or decode it (shown
with a warning naming the damage). Everything else (colour, signed, 12-bit, other syntaxes)
never comes here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import JPEGBaseline8Bit


@dataclass(frozen=True)
class Damaged:
    """libjpeg-turbo found the stream damaged: ``reason`` is its message."""

    reason: str


def is_grey_baseline(ds: Dataset) -> bool:
    """A grey, unsigned, 8-bit JPEG Baseline image: what :func:`decode_grey_baseline` reads."""
    meta = getattr(ds, "file_meta", None)
    if meta is None or meta.get("TransferSyntaxUID") != JPEGBaseline8Bit:
        return False
    try:
        return (
            int(ds.get("SamplesPerPixel", 1)) == 1
            and int(ds.get("BitsAllocated", 0)) == 8
            and int(ds.get("BitsStored", 0)) == 8
            and int(ds.get("PixelRepresentation", 0)) == 0
            and "PixelData" in ds
        )
    except (TypeError, ValueError):
        return False


def _frame_bytes(ds: Dataset, frame: int, n_frames: int) -> bytes:
    from pydicom.encaps import get_frame

    extended = None
    if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
        extended = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
    return get_frame(ds.PixelData, frame, extended_offsets=extended, number_of_frames=n_frames)


def decode_grey_baseline(ds: Dataset, frame: int, n_frames: int) -> np.ndarray | Damaged | None:
    """Decode one frame of an :func:`is_grey_baseline` dataset with libjpeg-turbo.

    Returns
    -------
    ndarray
        uint8 ``(Rows, Columns)``: the frame, decoded without a complaint.
    Damaged
        libjpeg-turbo reported the stream damaged (recoverable or not).
    None
        No opinion: the frame cannot be cut out of the pixel data, the stream is not a grey
        image of the header's size, or simplejpeg is missing. pydicom's decoders decide.
    """
    try:
        import simplejpeg
    except ImportError:
        return None
    try:
        data = _frame_bytes(ds, frame, n_frames)
        rows, cols = int(ds.Rows), int(ds.Columns)
        # Not strict: damage the header shows is for the strict decode below to report.
        header = simplejpeg.decode_jpeg_header(data, strict=False)
    except Exception:  # noqa: BLE001 - no opinion; pydicom's decoders explain the problem
        return None
    height, width, colorspace = header[0], header[1], header[2]
    if (height, width) != (rows, cols) or str(colorspace).upper() != "GRAY":
        return None
    try:
        arr = simplejpeg.decode_jpeg(data, colorspace="GRAY", strict=True)
    except ValueError as exc:
        return Damaged(str(exc).strip() or type(exc).__name__)
    except Exception:  # noqa: BLE001 - no opinion
        return None
    if arr.shape[:2] != (rows, cols):
        return None
    return np.ascontiguousarray(arr.reshape(rows, cols))
