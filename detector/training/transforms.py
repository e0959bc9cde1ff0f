"""Training augmentations with ``torchvision.transforms.v2`` (boxes follow the pixels).

A sample is ``(image, target)`` with ``image`` a ``tv_tensors.Image`` uint8 ``[1, H, W]`` (one
grey channel: the three identical model channels are made later, three times cheaper to
augment) and ``target = {"boxes": tv_tensors.BoundingBoxes (XYXY, canvas_size=(H, W)),
"labels": int64 [N], ...}``. Every geometric change is made by torchvision's own kernels, which
move the boxes with the image; nothing here computes box coordinates by hand.

Levels (the four the RetinaNet seed study compared):

``none``
    Resize only (done before, by :mod:`detector.model.preprocess`).
``light``
    Random affine: scale in [1/1.1, 1.1], shear up to 2.5 degrees, rotation up to 5 degrees.
``heavy``
    Random affine (scale [1/1.15, 1.15], shear 4 degrees), horizontal flip, and now and then
    salt-and-pepper noise, Gaussian blur or Gaussian noise.
``heavy_rotations``
    ``heavy`` plus rotation up to 6 degrees.

Brightness/contrast jitter is an independent option. Each pipeline ends with
``ToDtype(float32, scale=True)`` → ``ClampBoundingBoxes`` → ``SanitizeBoundingBoxes`` (drops
boxes that left the image or became degenerate, with their labels) → ``ToPureTensor``.
"""

from __future__ import annotations

from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from detector.types import AUGMENT_LEVELS  # noqa: E402


class SaltAndPepper(v2.Transform):
    """Set a random ``amount`` of pixels to black or white (images only; boxes pass through).

    Works on float images in [0, 1] and on uint8 images.
    """

    def __init__(self, amount: float = 0.004) -> None:
        super().__init__()
        if not 0.0 <= amount <= 1.0:
            raise ValueError(f"amount must be in [0, 1], not {amount}")
        self.amount = float(amount)

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if not isinstance(inpt, tv_tensors.Image):
            return inpt
        noise = torch.rand(inpt.shape[-2:], device=inpt.device)
        top = 255 if inpt.dtype == torch.uint8 else 1.0
        out = inpt.clone()
        out[..., noise < self.amount / 2] = 0
        out[..., noise > 1.0 - self.amount / 2] = top
        return tv_tensors.wrap(out, like=inpt)


def _affine(level: str) -> v2.Transform:
    if level == "light":
        return v2.RandomAffine(degrees=5.0, scale=(1 / 1.1, 1.1), shear=2.5)
    if level == "heavy":
        return v2.RandomAffine(degrees=0.0, scale=(1 / 1.15, 1.15), shear=4.0)
    return v2.RandomAffine(degrees=6.0, scale=(1 / 1.15, 1.15), shear=4.0)


def build_transforms(level: str = "none", *, jitter: float = 0.0) -> v2.Compose:
    """The training (or, with ``level="none"`` and no jitter, validation) pipeline.

    Parameters
    ----------
    level : {"none", "light", "heavy", "heavy_rotations"}
    jitter : float
        Brightness and contrast jitter strength (``ColorJitter(brightness=jitter,
        contrast=jitter)``); 0 disables it.

    Returns
    -------
    torchvision.transforms.v2.Compose
        Takes ``(image uint8 [1, H, W], target)`` and returns ``(float32 [1, H, W] in [0, 1],
        target)`` with ``target["boxes"]`` float32 XYXY ``[N, 4]`` and ``target["labels"]``
        int64 ``[N]`` (plain tensors).

    Raises
    ------
    ValueError
        Unknown level or negative jitter.
    """
    if level not in AUGMENT_LEVELS:
        raise ValueError(f"augment must be one of {', '.join(AUGMENT_LEVELS)}, not {level!r}")
    if jitter < 0:
        raise ValueError(f"jitter must be >= 0, not {jitter}")
    steps: list[v2.Transform] = []
    if level != "none":
        steps.append(_affine(level))
    if level in ("heavy", "heavy_rotations"):
        steps.append(v2.RandomHorizontalFlip(p=0.5))
    steps.append(v2.ToDtype(torch.float32, scale=True))
    if jitter > 0:
        steps.append(v2.ColorJitter(brightness=jitter, contrast=jitter))
    if level in ("heavy", "heavy_rotations"):
        steps += [
            v2.RandomApply([SaltAndPepper(0.004)], p=0.1),
            v2.RandomApply([v2.GaussianBlur(kernel_size=5, sigma=(0.3, 1.5))], p=0.2),
            v2.RandomApply([v2.GaussianNoise(sigma=0.02)], p=0.2),
        ]
    steps += [v2.ClampBoundingBoxes(), v2.SanitizeBoundingBoxes(min_size=1.0), v2.ToPureTensor()]
    return v2.Compose(steps)


def make_sample(
    gray: torch.Tensor, boxes_xyxy: torch.Tensor, labels: torch.Tensor | None = None
) -> tuple[tv_tensors.Image, dict[str, Any]]:
    """Wrap a uint8 ``[H, W]`` or ``[1, H, W]`` image and XYXY boxes for :func:`build_transforms`."""
    image = gray if gray.ndim == 3 else gray.unsqueeze(0)
    height, width = int(image.shape[-2]), int(image.shape[-1])
    boxes = torch.as_tensor(boxes_xyxy, dtype=torch.float32).reshape(-1, 4)
    if labels is None:
        labels = torch.ones(len(boxes), dtype=torch.int64)
    target = {
        "boxes": tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=(height, width)),
        "labels": torch.as_tensor(labels, dtype=torch.int64),
    }
    return tv_tensors.Image(image), target
