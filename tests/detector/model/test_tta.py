"""Horizontal-flip TTA: box mirroring, fusion of views, and the Detector plumbing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from detector.model.inference import Detector
from detector.model.tta import flip_boxes, fuse_views


def _view(boxes: list[list[float]], scores: list[float], labels: list[int] | None = None) -> dict:
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "scores": torch.tensor(scores, dtype=torch.float32),
        "labels": torch.tensor(labels or [1] * len(scores), dtype=torch.int64),
    }


def test_flip_boxes_mirrors_x_only() -> None:
    """A box 10..30 in a 100 px wide image becomes 70..90; y is untouched."""
    out = flip_boxes(torch.tensor([[10.0, 5.0, 30.0, 25.0]]), 100)
    assert out.tolist() == [[70.0, 5.0, 90.0, 25.0]]


def test_fusion_of_agreeing_views_keeps_the_score_and_averages_the_box() -> None:
    """Two views that see the same box: one box, score-weighted mean, mean of view scores."""
    fused = fuse_views([_view([[0, 0, 10, 10]], [0.8]), _view([[2, 0, 12, 10]], [0.8])])
    assert len(fused["scores"]) == 1
    assert fused["scores"].item() == pytest.approx(0.8)
    assert fused["boxes"][0].tolist() == pytest.approx([1.0, 0.0, 11.0, 10.0])


def test_a_box_seen_by_one_view_keeps_half_its_score() -> None:
    """No partner in the other view counts as 0 there: 0.6 -> 0.3."""
    fused = fuse_views([_view([[0, 0, 10, 10]], [0.6]), _view([[50, 50, 60, 60]], [0.4])])
    assert sorted(fused["scores"].tolist()) == pytest.approx([0.2, 0.3])


def test_weighted_box_and_per_view_best_score() -> None:
    """Within a cluster, each view contributes its best score once; boxes weigh by score."""
    fused = fuse_views(
        [_view([[0, 0, 10, 10], [1, 0, 11, 10]], [0.9, 0.3]), _view([[0, 0, 10, 10]], [0.5])]
    )
    assert fused["scores"].tolist() == pytest.approx([0.7])  # (0.9 + 0.5) / 2
    expected_x1 = (0.9 * 0 + 0.3 * 1 + 0.5 * 0) / (0.9 + 0.3 + 0.5)
    assert fused["boxes"][0, 0].item() == pytest.approx(expected_x1)


def test_other_classes_are_not_fused() -> None:
    fused = fuse_views([_view([[0, 0, 10, 10]], [0.8], [1]), _view([[0, 0, 10, 10]], [0.8], [2])])
    assert len(fused["scores"]) == 2


def test_empty_views() -> None:
    fused = fuse_views([_view([], []), _view([], [])])
    assert fused["boxes"].shape == (0, 4)


class _BrightColumn(nn.Module):
    """Stand-in detector: one box around the brightest column band (follows the image)."""

    def __init__(self, follow: bool) -> None:
        super().__init__()
        self.follow = follow
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        out = []
        for img in images:
            width = img.shape[-1]
            col = img[0].mean(0)
            centre = float((col == col.max()).nonzero().float().mean()) + 0.5
            x = centre if self.follow else 2.0
            box = torch.tensor([[max(0, x - 4), 10.0, min(width, x + 4), 30.0]])
            out.append({"boxes": box, "scores": torch.tensor([0.8]), "labels": torch.tensor([1])})
        return out


def _image() -> np.ndarray:
    img = np.full((64, 64), 40, dtype=np.uint8)
    img[:, 44:48] = 250  # a bright band right of centre
    return img


@pytest.mark.parametrize("follow", [True, False])
def test_detector_hflip_runs_both_views(follow: bool) -> None:
    """A model that follows the image agrees with itself (score kept); one that always
    answers the same place disagrees with its mirror (two boxes, half score each)."""
    meta = {"arch": "retinanet", "backbone": "mobilenet_v3", "input_size": 64, "threshold": 0.1}
    plain = Detector(model=_BrightColumn(follow), meta=meta, device="cpu", tta="none")
    tta = Detector(model=_BrightColumn(follow), meta=meta, device="cpu", tta="hflip")
    a = plain.predict([_image()], threshold=0.1)[0].detections
    b = tta.predict([_image()], threshold=0.1)[0].detections
    assert len(a) == 1 and a[0].score == pytest.approx(0.8)
    if follow:
        assert len(b) == 1 and b[0].score == pytest.approx(0.8)
        assert b[0].box_xyxy == pytest.approx(a[0].box_xyxy, abs=1.0)
    else:
        assert [d.score for d in b] == pytest.approx([0.4, 0.4])


def test_tta_comes_from_the_checkpoint_unless_asked() -> None:
    meta = {"arch": "retinanet", "backbone": "mobilenet_v3", "input_size": 64, "tta": "hflip"}
    assert Detector(model=_BrightColumn(True), meta=meta, device="cpu").tta == "hflip"
    assert Detector(model=_BrightColumn(True), meta=meta, device="cpu", tta="none").tta == "none"
    with pytest.raises(ValueError, match="tta"):
        Detector(model=_BrightColumn(True), meta=meta, device="cpu", tta="vflip")
