"""Horizontal-flip test-time augmentation with box fusion.

A chest radiograph flipped left-right is still a plausible chest radiograph, so the model is run
on the image and on its mirror; the mirror's boxes are flipped back and the two sets are fused:
boxes of the same class that overlap (IoU >= ``iou``) form one cluster around its best box, the
fused box is the score-weighted mean of the cluster, and its score is the mean over the views
of each view's best score in the cluster (a view that found nothing there counts 0). A box seen
by one view only keeps half its score, which is what makes the fusion conservative.

Everything here works on torchvision's raw detection outputs (``boxes`` XYXY in model-input
pixels, ``scores``, ``labels``), before any threshold, so it plugs in between the model and
:mod:`detector.model.postprocess`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.ops import box_iou

#: Names accepted in checkpoint metadata ``tta`` and ``--tta``.
TTA_CHOICES: tuple[str, ...] = ("none", "hflip")
#: IoU that puts two boxes of different views in one cluster.
FUSION_IOU = 0.55


def flip_boxes(boxes_xyxy: torch.Tensor, width: int) -> torch.Tensor:
    """Mirror XYXY boxes of an image ``width`` pixels wide (x -> width - x)."""
    out = boxes_xyxy.clone()
    out[:, 0] = float(width) - boxes_xyxy[:, 2]
    out[:, 2] = float(width) - boxes_xyxy[:, 0]
    return out


def fuse_views(
    views: Sequence[dict[str, torch.Tensor]], *, iou: float = FUSION_IOU
) -> dict[str, torch.Tensor]:
    """Fuse one image's detections from several views (already in the same pixel frame).

    Parameters
    ----------
    views : sequence of dict
        Each ``{"boxes": float [N, 4] XYXY, "scores": float [N], "labels": int64 [N]}``.
    iou : float
        Boxes overlapping the cluster's best box at least this much join the cluster.

    Returns
    -------
    dict
        Same keys, decreasing score; one box per cluster.
    """
    n_views = len(views)
    if n_views == 0:
        raise ValueError("fuse_views needs at least one view")
    boxes = torch.cat([v["boxes"].float().reshape(-1, 4) for v in views])
    scores = torch.cat([v["scores"].float().reshape(-1) for v in views])
    labels = torch.cat([v["labels"].reshape(-1).to(torch.int64) for v in views])
    view_of = torch.cat(
        [torch.full((len(v["scores"]),), i, dtype=torch.int64) for i, v in enumerate(views)]
    )
    if len(scores) == 0:
        return {"boxes": boxes, "scores": scores, "labels": labels}
    overlap = box_iou(boxes, boxes)
    same = labels[:, None] == labels[None, :]
    free = torch.ones(len(scores), dtype=torch.bool)
    out_boxes, out_scores, out_labels = [], [], []
    for i in torch.argsort(scores, descending=True, stable=True).tolist():
        if not free[i]:
            continue
        members = free & same[i] & (overlap[i] >= iou)
        members[i] = True
        free &= ~members
        idx = members.nonzero().flatten()
        w = scores[idx]
        out_boxes.append((boxes[idx] * w[:, None]).sum(0) / w.sum().clamp_min(1e-12))
        best_per_view = torch.zeros(n_views)
        best_per_view.scatter_reduce_(0, view_of[idx], w, reduce="amax")
        out_scores.append(best_per_view.mean())
        out_labels.append(labels[i])
    fused_scores = torch.stack(out_scores)
    order = torch.argsort(fused_scores, descending=True, stable=True)
    return {
        "boxes": torch.stack(out_boxes)[order],
        "scores": fused_scores[order],
        "labels": torch.stack(out_labels)[order],
    }


def merge_hflip(
    plain: Sequence[dict[str, torch.Tensor]],
    flipped: Sequence[dict[str, torch.Tensor]],
    widths: Sequence[int],
    *,
    iou: float = FUSION_IOU,
) -> list[dict[str, torch.Tensor]]:
    """Fuse per-image outputs of the plain and the mirrored batch (``widths``: model input)."""
    merged = []
    for a, b, width in zip(plain, flipped, widths, strict=True):
        back = {**b, "boxes": flip_boxes(b["boxes"].float(), int(width))}
        merged.append(fuse_views([a, back], iou=iou))
    return merged
