"""Rendering: a decoded frame -> 8-bit display pixels, with optional contrast enhancement.

All grey transformations of integer pixel data (modality, VOI, MONOCHROME1 / Presentation LUT
Shape ``INVERSE`` inversion) are composed into one uint8 lookup table indexed by the stored value,
so changing the window re-renders with a single ``np.take`` and no float maths per pixel. Float
pixel data falls back to vectorised maths. Global histogram equalisation or CLAHE is applied to
the windowed image; :func:`resize_display` and :func:`to_gray` prepare display pixels for the
model and for ``convert``.
"""

from __future__ import annotations

import math
import os

import numpy as np
from pydicom.dataset import Dataset

from detector.imaging.decode import DicomImage, load_image
from detector.imaging.lut import Window, apply_modality, voi_to_unit

EQUALIZE_CHOICES: tuple[str, ...] = ("none", "hist", "clahe")


def _gray_lut(image: DicomImage, window: Window, invert: bool) -> np.ndarray:
    """uint8 LUT indexed by ``stored - stored_min`` composing modality, VOI and inversion."""
    key = (window, invert)
    lut = image._lut_cache.get(key)
    if lut is None:
        stored_values = np.arange(image._stored_min, image._stored_max + 1, dtype=np.int64)
        unit = voi_to_unit(apply_modality(stored_values, image.header), window, image.header)
        if invert:
            unit = 1.0 - unit
        lut = np.rint(unit * 255.0).astype(np.uint8)
        if len(image._lut_cache) > 16:
            image._lut_cache.clear()
        image._lut_cache[key] = lut
    return lut


def render(
    image: DicomImage,
    window: Window | None = None,
    *,
    invert: bool | None = None,
    equalize: str = "none",
) -> np.ndarray:
    """Display pixels for one image.

    Parameters
    ----------
    window : Window, optional
        VOI choice; the image's default (first header window, else auto) when omitted.
    invert : bool, optional
        Final inversion; when omitted, MONOCHROME1 or Presentation LUT Shape INVERSE invert.
    equalize : {"none", "hist", "clahe"}
        Display enhancement applied to the windowed image (off by default).

    Returns
    -------
    ndarray
        uint8 (rows, cols) in 0..255 for grey, uint8 (rows, cols, 3) RGB for colour.
    """
    if equalize not in EQUALIZE_CHOICES:
        raise ValueError(f"equalize must be one of {EQUALIZE_CHOICES}, not {equalize!r}")
    do_invert = image.invert_default if invert is None else invert
    if image.is_color:
        rgb = image.stored
        if rgb.shape[-1] == 4:
            rgb = rgb[..., :3]
        if rgb.dtype != np.uint8:
            # 16-bit colour (e.g. a 16-bit palette): scale by the smallest 2**n - 1 that holds it.
            top = float(2 ** int(max(8, math.ceil(math.log2(float(rgb.max()) + 1)))) - 1)
            rgb = np.rint(rgb.astype(np.float32) * (255.0 / top)).astype(np.uint8)
        if do_invert and invert is not None:
            rgb = 255 - rgb
        return np.ascontiguousarray(rgb)

    win = window or image.default_window
    if equalize != "none":
        # Equalise the un-inverted windowed image, then invert, so that "invert" means the same
        # thing with and without enhancement.
        base = _render_gray(image, win, False)
        out = equalize_display(base, equalize)
        return 255 - out if do_invert else out
    return _render_gray(image, win, do_invert)


def _render_gray(image: DicomImage, window: Window, invert: bool) -> np.ndarray:
    stored = image.stored
    if stored.dtype.kind in "ui" and image._stored_max - image._stored_min <= (1 << 20):
        lut = _gray_lut(image, window, invert)
        if image._stored_min == 0:
            return lut[stored]
        index = stored.astype(np.int32, copy=False) if stored.dtype.kind == "i" else stored
        return lut[index - image._stored_min]
    unit = voi_to_unit(image.modality, window, image.header)
    if invert:
        unit = 1.0 - unit
    return np.rint(np.nan_to_num(unit) * 255.0).astype(np.uint8)


def equalize_display(display: np.ndarray, method: str) -> np.ndarray:
    """Global histogram equalization or CLAHE (scikit-image) of an 8-bit grey image.

    Returns
    -------
    ndarray
        uint8, same shape.
    """
    from skimage import exposure

    if method == "none":
        return display
    if method == "hist":
        # 256-bin equalisation as a LUT: exact for uint8 input and far cheaper than float maths.
        hist = np.bincount(display.ravel(), minlength=256)
        cdf = np.cumsum(hist).astype(np.float64)
        nonzero = cdf[cdf > 0]
        lo = nonzero[0] if nonzero.size else 0.0
        span = max(cdf[-1] - lo, 1.0)
        lut = np.clip(np.rint((cdf - lo) / span * 255.0), 0, 255).astype(np.uint8)
        return lut[display]
    if method == "clahe":
        out = exposure.equalize_adapthist(display, clip_limit=0.01)
        return np.rint(out * 255.0).astype(np.uint8)
    raise ValueError(f"equalize must be one of {EQUALIZE_CHOICES}, not {method!r}")


def to_gray(display: np.ndarray) -> np.ndarray:
    """uint8 grey from a display image (RGB -> luma, BT.601)."""
    if display.ndim == 2:
        return display
    rgb = display[..., :3].astype(np.float32)
    luma = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return np.rint(luma).astype(np.uint8)


def resize_display(display: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize an 8-bit display image with antialiasing (Pillow bilinear with support scaling).

    ``size`` as an int is the longer side (aspect ratio kept); a tuple is ``(height, width)``.
    """
    from PIL import Image

    h, w = display.shape[:2]
    if isinstance(size, int):
        scale = size / max(h, w)
        out_h, out_w = max(1, round(h * scale)), max(1, round(w * scale))
    else:
        out_h, out_w = size
    if (out_h, out_w) == (h, w):
        return display
    pil = Image.fromarray(display)
    # np.array, not np.asarray: Pillow's buffer is read-only and torch.from_numpy warns on it.
    return np.array(pil.resize((out_w, out_h), Image.Resampling.BILINEAR))


def display_pixels(
    src: str | os.PathLike[str] | Dataset,
    *,
    frame: int = 0,
    window: tuple[float, float] | Window | None = None,
    equalize: str = "none",
    invert: bool | None = None,
) -> np.ndarray:
    """Convenience: read, decode and render in one call (what convert, detect and train use).

    ``window`` may be a ``(center, width)`` pair, applied with LINEAR.
    """
    image = load_image(src, frame)
    win = Window(float(window[0]), float(window[1])) if isinstance(window, tuple) else window
    return render(image, win, invert=invert, equalize=equalize)
