"""The one model input, shared by the viewer, ``detect`` and training.

:func:`model_gray` takes a decoded :class:`~detector.imaging.decode.DicomImage` (what the
viewer holds) or a file path (what ``detect`` and training read) and always produces the same
pixels for the same file:

DICOM -> :func:`detector.imaging.render.render` with the image's *default* display (header or automatic
window, MONOCHROME1 / INVERSE inverted; never the user's current window, zoom or invert) and the
checkpoint's equalization applied by ``render`` (to the windowed image, before the inversion)
-> grey -> resize so the longer side is ``input_size`` -> float32 ``[3, H, W]`` in [0, 1].

A plain PNG/JPEG (e.g. written by ``pneumoview convert``) is read as grey, equalized, resized.

The work is split so that the numpy/Pillow part (:func:`model_gray`) can run in DataLoader
workers and ship a small uint8 array, while :func:`gray_to_tensor` (the cheap float conversion)
runs where the model is, e.g. on the GPU.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from detector.imaging.decode import DicomImage, load_image
from detector.imaging.render import (
    EQUALIZE_CHOICES,
    equalize_display,
    render,
    resize_display,
    to_gray,
)

ModelSource = DicomImage | str | os.PathLike[str]


def prepare_gray(
    display: np.ndarray, *, input_size: int, equalize: str = "none"
) -> tuple[np.ndarray, float]:
    """Grey, equalize and resize a display image (arrays; files and DicomImages go through :func:`model_gray`).

    Parameters
    ----------
    display : ndarray
        uint8 ``(H, W)`` grey or ``(H, W, 3|4)`` RGB display pixels.
    input_size : int
        Longer side of the output, in pixels.
    equalize : {"none", "hist", "clahe"}
        Applied at full resolution, before resizing, as the viewer does. Pass ``"none"`` when
        ``display`` was already rendered with the equalization.

    Returns
    -------
    gray : ndarray
        uint8 ``(h, w)`` with ``max(h, w) == input_size``.
    scale : float
        ``input_size / max(H, W)``: model pixels per original pixel.
    """
    if display.ndim not in (2, 3) or display.size == 0:
        raise ValueError(f"expected a 2-D grey or 3-D RGB image, got shape {display.shape}")
    if display.dtype != np.uint8:
        raise TypeError(f"display pixels must be uint8, not {display.dtype}")
    if equalize not in EQUALIZE_CHOICES:
        raise ValueError(f"equalize must be one of {EQUALIZE_CHOICES}, not {equalize!r}")
    if int(input_size) < 8:
        raise ValueError(f"input_size must be >= 8, not {input_size}")
    gray = to_gray(display)
    if equalize != "none":
        gray = equalize_display(gray, equalize)
    height, width = gray.shape
    scale = int(input_size) / max(height, width)
    gray = resize_display(np.ascontiguousarray(gray), int(input_size))
    if not gray.flags.writeable:
        # Pillow hands back a read-only view; torch.from_numpy warns about those.
        gray = gray.copy()
    return gray, scale


def gray_to_tensor(
    gray: torch.Tensor | np.ndarray, device: torch.device | str | None = None
) -> torch.Tensor:
    """uint8 ``(h, w)`` grey -> float32 ``[3, h, w]`` in [0, 1] (on ``device`` if given)."""
    tensor = torch.as_tensor(gray)
    if device is not None:
        tensor = tensor.to(device, non_blocking=True)
    return tensor.to(torch.float32).div_(255.0).unsqueeze(0).expand(3, -1, -1)


def model_gray(
    source: ModelSource, *, input_size: int, equalize: str = "none", frame: int = 0
) -> tuple[np.ndarray, float, tuple[int, int]]:
    """The model input of an image, as uint8 grey (:func:`gray_to_tensor` makes the tensor).

    Parameters
    ----------
    source : DicomImage or path
        A decoded frame (the viewer's) or a DICOM / PNG / JPEG file.
    input_size : int
        Longer side of the output, in pixels.
    equalize : {"none", "hist", "clahe"}
        The checkpoint's equalization.
    frame : int
        Frame to decode when ``source`` is a path.

    Returns
    -------
    gray : ndarray
        uint8 ``(h, w)`` with ``max(h, w) == input_size``.
    scale : float
        ``input_size / max(H, W)``: model pixels per original pixel.
    size : tuple of 2 int
        ``(H, W)`` of the original image.

    Raises
    ------
    detector.imaging.read.DicomReadError
        The file cannot be read as an image.
    ValueError
        Bad ``input_size`` or ``equalize``.
    """
    if equalize not in EQUALIZE_CHOICES:
        raise ValueError(f"equalize must be one of {EQUALIZE_CHOICES}, not {equalize!r}")
    if isinstance(source, DicomImage):
        display = render(source, None, invert=None, equalize=equalize)
    else:
        # DICOM, PNG and JPEG alike: the imaging core reads them (16-bit PNGs keep their range).
        display = render(load_image(source, frame), None, invert=None, equalize=equalize)
    gray, scale = prepare_gray(display, input_size=input_size)
    return gray, scale, (int(display.shape[0]), int(display.shape[1]))
