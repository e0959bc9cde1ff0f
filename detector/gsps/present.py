"""A presentation state applied to an image's pixels, Qt-free: what the window shows, as an array.

:func:`apply_presentation` runs the one pixel pipeline (:func:`detector.imaging.render.render`)
with the state's VOI (its window, or its VOI LUT as the VOI override) and Presentation LUT Shape,
then cuts out the displayed area and applies the spatial transformation in the standard's order
(PS3.3 C.10.6: rotation clockwise, then horizontal flip). The window does the same on the
canvas; ``tests/detector/gsps/test_dcmtk_agreement.py`` checks this function against DCMTK.
"""

from __future__ import annotations

import numpy as np

from detector.gsps.geometry import area_rect
from detector.gsps.model import PresentationState
from detector.imaging.decode import DicomImage
from detector.imaging.lut import Window
from detector.imaging.render import render


def presentation_window(
    state: PresentationState, sop_instance_uid: str, frame: int = 1
) -> Window | None:
    """The state's VOI for an image's 1-based frame (None: the state has none; the image's own)."""
    voi = state.voi_for(sop_instance_uid, frame)
    return None if voi is None else voi.choice(state.label)


def orient(pixels: np.ndarray, rotation: int, flip: bool) -> np.ndarray:
    """Pixels rotated ``rotation`` degrees clockwise, then flipped left-right when ``flip``."""
    out = np.rot90(pixels, -((rotation // 90) % 4))
    return out[:, ::-1] if flip else out


def crop_area(pixels: np.ndarray, rect: tuple[float, float, float, float]) -> np.ndarray:
    """The displayed area ``(x0, y0, x1, y1)`` of ``pixels``; parts outside the image are black."""
    x0, y0, x1, y1 = (int(round(v)) for v in rect)
    out = np.zeros((max(y1 - y0, 0), max(x1 - x0, 0)) + pixels.shape[2:], dtype=pixels.dtype)
    rows, cols = pixels.shape[:2]
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, cols), min(y1, rows)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = pixels[sy0:sy1, sx0:sx1]
    return out


def apply_presentation(
    image: DicomImage, state: PresentationState, sop_instance_uid: str | None = None
) -> np.ndarray:
    """The image as the presentation state presents it, one array pixel per image pixel.

    Parameters
    ----------
    image : DicomImage
        One decoded frame (``image.frame`` is 0-based).
    state : PresentationState
        Its VOI (none for this image: the image's own window), Presentation LUT Shape,
        displayed area (none: the whole image) and spatial transformation are applied.
        Presentation Size Mode only scales the view, so it does not change the array.
    sop_instance_uid : str, optional
        The image's SOP Instance UID; read from its header when omitted.

    Returns
    -------
    ndarray
        uint8, (rows, columns) of the displayed area after rotation and flip.
    """
    uid = sop_instance_uid or str(image.header.get("SOPInstanceUID", "") or "")
    frame = image.frame + 1
    pixels = render(image, presentation_window(state, uid, frame), invert=state.inverse)
    rect = area_rect(state.area_for(uid, frame), image.shape)
    return np.ascontiguousarray(orient(crop_area(pixels, rect), state.rotation, state.flip))
