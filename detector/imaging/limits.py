"""The limit on how large an image may be once inflated or decoded (decompression bombs).

A 1 MB deflated or RLE file can declare 32768 x 32768 pixels; decoding it would allocate
gigabytes, once per worker. :func:`pixel_limit_reason` compares the size the header declares
(rows x columns x frames x samples x bytes per sample) with :func:`max_pixel_bytes` before any
pixel is decoded, and :mod:`detector.imaging.deflate` never inflates more than the limit.

The limit is :data:`DEFAULT_MAX_PIXEL_BYTES` (512 MiB: 16 times a 4k x 4k 16-bit DR image), or
the number of bytes in the environment variable ``PNEUMOVIEW_MAX_PIXEL_BYTES``.
"""

from __future__ import annotations

import logging
import os

from pydicom.dataset import Dataset

logger = logging.getLogger(__name__)

#: Default limit on the inflated pixel data of one file, in bytes.
DEFAULT_MAX_PIXEL_BYTES = 512 << 20
#: Environment variable that overrides :data:`DEFAULT_MAX_PIXEL_BYTES` (a whole number of bytes).
MAX_PIXEL_BYTES_ENV = "PNEUMOVIEW_MAX_PIXEL_BYTES"


def max_pixel_bytes() -> int:
    """The limit in bytes: ``$PNEUMOVIEW_MAX_PIXEL_BYTES`` when it is a positive integer.

    Returns
    -------
    int
        The limit; the default when the variable is unset or not a positive whole number
        (logged once per call as a warning).
    """
    text = os.environ.get(MAX_PIXEL_BYTES_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_PIXEL_BYTES
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        value = 0
    if value <= 0:
        logger.warning(
            "%s=%r is not a positive number of bytes; using %d",
            MAX_PIXEL_BYTES_ENV,
            text,
            DEFAULT_MAX_PIXEL_BYTES,
        )
        return DEFAULT_MAX_PIXEL_BYTES
    return value


def _header_int(ds: Dataset, keyword: str, default: int) -> int | None:
    try:
        value = ds.get(keyword, default)
        return default if value in (None, "") else int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    except Exception:  # noqa: BLE001 - a damaged value is left for the decoder to report
        return None


def declared_pixel_bytes(ds: Dataset) -> int | None:
    """Bytes the pixel data inflates to, from Rows, Columns, frames, samples and bits.

    Returns
    -------
    int or None
        rows x columns x frames x samples x ceil(bits allocated / 8) (bits for 1-bit images);
        ``None`` when a value is missing or not a number (the decoder reports that).
    """
    values = [
        _header_int(ds, "Rows", 0),
        _header_int(ds, "Columns", 0),
        _header_int(ds, "NumberOfFrames", 1),
        _header_int(ds, "SamplesPerPixel", 1),
        _header_int(ds, "BitsAllocated", 0),
    ]
    if any(v is None for v in values):
        return None
    rows, cols, frames, samples, bits = (int(v or 0) for v in values)
    frames = max(frames, 1)
    samples = max(samples, 1)
    if rows <= 0 or cols <= 0 or bits <= 0:
        return None
    pixels = rows * cols * frames * samples
    return (pixels + 7) // 8 if bits == 1 else pixels * ((bits + 7) // 8)


def size_text(n: int) -> str:
    """``n`` bytes in words: "2.0 GiB", "512 MiB", "300 bytes"."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            value = n / size
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{n} bytes"


def over_limit_reason(what: str, limit: int) -> str:
    """The one-line reason for an image over the limit (``what``: what was too large)."""
    return (
        f"{what}, over the limit of {size_text(limit)} "
        f"(set {MAX_PIXEL_BYTES_ENV} to a larger number of bytes to read it)"
    )


def pixel_limit_reason(ds: Dataset) -> str | None:
    """Why an image is refused for its declared size (``None``: within :func:`max_pixel_bytes`).

    Returns
    -------
    str or None
        ``"the header declares R x C pixels x F frames (N GiB once decoded), over the limit of
        ..."``, one line; callers raise it as their file error before decoding any pixel.
    """
    size = declared_pixel_bytes(ds)
    limit = max_pixel_bytes()
    if size is None or size <= limit:
        return None
    rows, cols = _header_int(ds, "Rows", 0), _header_int(ds, "Columns", 0)
    frames = _header_int(ds, "NumberOfFrames", 1) or 1
    shape = f"{rows} x {cols} pixels" + (f" x {frames} frames" if frames > 1 else "")
    return over_limit_reason(f"the header declares {shape} ({size_text(size)} once decoded)", limit)
