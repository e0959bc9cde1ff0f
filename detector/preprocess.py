"""Model input preparation, shared by inference and training.

display pixels (uint8, from :func:`detector.imaging.display_pixels`, the viewer's own pipeline)
-> grey -> optional histogram equalization -> resize so the longer side is ``input_size``
-> float32 ``[3, H, W]`` in [0, 1].

The work is split so that the heavy, numpy/Pillow part (:func:`prepare_gray`) can run in
DataLoader workers and ship a small uint8 array, while :func:`gray_to_tensor` (the cheap float
conversion) runs where the model is, e.g. on the GPU.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from detector.imaging import (
    EQUALIZE_CHOICES,
    display_pixels,
    equalize_display,
    resize_display,
    to_gray,
)


def prepare_gray(
    display: np.ndarray, *, input_size: int, equalize: str = "none"
) -> tuple[np.ndarray, float]:
    """Grey, equalize and resize a display image (the numpy part of :func:`prepare_image`).

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


def prepare_image(
    display: np.ndarray, *, input_size: int, equalize: str = "none"
) -> tuple[torch.Tensor, float]:
    """Display image -> model input.

    Returns
    -------
    image : torch.Tensor
        float32 ``[3, h, w]`` in [0, 1] (three identical grey channels), ``max(h, w) ==
        input_size``.
    scale : float
        ``input_size / max(H, W)``; divide model boxes by it to get original pixels.
    """
    gray, scale = prepare_gray(display, input_size=input_size, equalize=equalize)
    return gray_to_tensor(gray), scale


def load_for_model(
    path: str | os.PathLike[str], *, input_size: int, equalize: str = "none", frame: int = 0
) -> tuple[torch.Tensor, tuple[int, int], float]:
    """Read a DICOM file through the viewer's pipeline and prepare it for the model.

    Returns
    -------
    image : torch.Tensor
        As :func:`prepare_image`.
    size : tuple of 2 int
        ``(height, width)`` of the original image.
    scale : float

    Raises
    ------
    detector.imaging.DicomReadError
        The file cannot be read as an image.
    """
    display = display_pixels(path, frame=frame, equalize=equalize)
    size = (int(display.shape[0]), int(display.shape[1]))
    image, scale = prepare_image(display, input_size=input_size)
    return image, size, scale
