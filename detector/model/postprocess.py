"""Model output -> :class:`~detector.types.Detection` in original-image pixels.

The only place where model boxes (``xyxy`` in the resized model input) become
``box_xyxy`` in pixels of the original image.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torchvision.ops import batched_nms

from detector.types import Detection, DetectionResult

#: Boxes narrower or lower than this (original pixels) after clipping are dropped.
MIN_BOX_SIZE = 1.0


def to_detections(
    boxes_xyxy: torch.Tensor | np.ndarray,
    scores: torch.Tensor | np.ndarray,
    labels: torch.Tensor | np.ndarray,
    *,
    scale: float,
    image_size: tuple[int, int],
    threshold: float = 0.0,
    nms_iou: float | None = None,
    max_detections: int | None = None,
) -> list[Detection]:
    """Map, filter and sort one image's raw detections.

    Parameters
    ----------
    boxes_xyxy : (N, 4)
        Boxes in model-input pixels.
    scores, labels : (N,)
    scale : float
        Model pixels per original pixel (from :func:`detector.model.preprocess.model_gray`).
    image_size : (height, width)
        Of the original image; boxes are clipped to it.
    threshold : float
        Keep ``score >= threshold``.
    nms_iou : float, optional
        Extra class-wise non-maximum suppression (the torchvision models already apply one).
    max_detections : int, optional
        Keep at most this many, best first.

    Returns
    -------
    list of Detection
        Decreasing score; background (label 0) and degenerate boxes removed.
    """
    b = torch.as_tensor(boxes_xyxy, dtype=torch.float32).reshape(-1, 4).cpu()
    s = torch.as_tensor(scores, dtype=torch.float32).reshape(-1).cpu()
    lab = torch.as_tensor(labels, dtype=torch.int64).reshape(-1).cpu()
    if scale <= 0:
        raise ValueError(f"scale must be > 0, not {scale}")
    height, width = image_size
    b = b / float(scale)
    b[:, 0::2] = b[:, 0::2].clamp(0.0, float(width))
    b[:, 1::2] = b[:, 1::2].clamp(0.0, float(height))
    keep = (
        (s >= threshold)
        & (lab > 0)
        & ((b[:, 2] - b[:, 0]) >= MIN_BOX_SIZE)
        & ((b[:, 3] - b[:, 1]) >= MIN_BOX_SIZE)
        & torch.isfinite(b).all(dim=1)
        & torch.isfinite(s)
    )
    b, s, lab = b[keep], s[keep], lab[keep]
    if nms_iou is not None and len(s):
        kept = batched_nms(b, s, lab, float(nms_iou))
        b, s, lab = b[kept], s[kept], lab[kept]
    order = torch.argsort(s, descending=True, stable=True)
    if max_detections is not None:
        order = order[: int(max_detections)]
    return [
        Detection(
            box_xyxy=(float(x1), float(y1), float(x2), float(y2)),
            score=float(sc),
            label=int(lb),
        )
        for (x1, y1, x2, y2), sc, lb in zip(
            b[order].tolist(), s[order].tolist(), lab[order].tolist(), strict=True
        )
    ]


def output_to_result(
    output: Mapping[str, torch.Tensor],
    *,
    image_id: str,
    scale: float,
    image_size: tuple[int, int],
    threshold: float = 0.0,
) -> DetectionResult:
    """One torchvision output dict (``boxes``, ``scores``, ``labels``) -> DetectionResult."""
    detections = to_detections(
        output["boxes"],
        output["scores"],
        output["labels"],
        scale=scale,
        image_size=image_size,
        threshold=threshold,
    )
    return DetectionResult(image_id=image_id, detections=detections, image_size=image_size)
