"""Training augmentations: boxes stay on the anatomy they mark."""

from __future__ import annotations

import pytest
import torch
from torchvision import tv_tensors

from detector.training.transforms import (
    AUGMENT_LEVELS,
    SaltAndPepper,
    build_transforms,
    make_sample,
)


def _bright_rectangle(size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """A dark image with one bright, off-centre rectangle and its XYXY box."""
    img = torch.full((size, size), 40, dtype=torch.uint8)
    img[30:62, 20:70] = 250
    return img, torch.tensor([[20.0, 30.0, 70.0, 62.0]])


def _region_box(image: torch.Tensor) -> torch.Tensor:
    """XYXY bounding box of the bright region of a float [1, H, W] image.

    A 5x5 mean filter first, so isolated salt-and-pepper pixels do not count.
    """
    smooth = torch.nn.functional.avg_pool2d(image[None], 5, stride=1, padding=2)[0, 0]
    ys, xs = torch.nonzero(smooth > 0.6, as_tuple=True)
    return torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=torch.float32)


def _iou(a: torch.Tensor, b: torch.Tensor) -> float:
    ix = (torch.minimum(a[2], b[2]) - torch.maximum(a[0], b[0])).clamp(min=0)
    iy = (torch.minimum(a[3], b[3]) - torch.maximum(a[1], b[1])).clamp(min=0)
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union)


class TestBuildTransforms:
    @pytest.mark.parametrize("level", AUGMENT_LEVELS)
    def test_box_follows_the_bright_region(self, level: str) -> None:
        """After any augmentation the box still frames the same (moved) bright rectangle."""
        img, boxes = _bright_rectangle()
        transform = build_transforms(level, jitter=0.2)
        flipped = 0
        for trial in range(12):
            torch.manual_seed(trial)
            out, target = transform(*make_sample(img, boxes))
            assert out.dtype == torch.float32 and out.shape == (1, 128, 128)
            assert target["boxes"].shape == (1, 4)
            region = _region_box(out)
            assert _iou(target["boxes"][0], region) > 0.8, (level, trial)
            flipped += int((region[0] + region[2]) / 2 > 64)  # centre moved to the right half
        if level in ("heavy", "heavy_rotations"):
            assert flipped > 0, "the horizontal flip never happened in 12 trials"
        else:
            assert flipped == 0

    def test_none_keeps_pixels_and_boxes(self) -> None:
        """Level none only converts to float in [0, 1]."""
        img, boxes = _bright_rectangle()
        out, target = build_transforms("none")(*make_sample(img, boxes))
        assert torch.allclose(out[0], img.float() / 255.0)
        assert torch.equal(target["boxes"], boxes)
        assert torch.equal(target["labels"], torch.tensor([1]))

    @pytest.mark.parametrize("level", AUGMENT_LEVELS)
    def test_image_with_no_findings(self, level: str) -> None:
        """An image without boxes comes out without boxes (and float)."""
        img, _ = _bright_rectangle()
        torch.manual_seed(0)
        out, target = build_transforms(level)(*make_sample(img, torch.zeros(0, 4)))
        assert out.dtype == torch.float32
        assert target["boxes"].shape == (0, 4)
        assert target["labels"].shape == (0,)

    def test_box_outside_the_image_is_dropped_with_its_label(self) -> None:
        """SanitizeBoundingBoxes removes a box that lies outside the canvas, and its label."""
        img, boxes = _bright_rectangle()
        both = torch.cat([boxes, torch.tensor([[200.0, 200.0, 240.0, 240.0]])])
        out, target = build_transforms("none")(*make_sample(img, both, torch.tensor([1, 1])))
        assert torch.equal(target["boxes"], boxes)
        assert target["labels"].tolist() == [1]

    def test_unknown_level(self) -> None:
        """An unknown level names the allowed ones."""
        with pytest.raises(ValueError, match="augment must be one of none, light"):
            build_transforms("extreme")

    def test_negative_jitter(self) -> None:
        """Jitter must not be negative."""
        with pytest.raises(ValueError, match="jitter must be >= 0"):
            build_transforms("none", jitter=-0.1)


class TestSaltAndPepper:
    def test_changes_pixels_not_boxes(self) -> None:
        """Some pixels become black or white; the boxes are untouched."""
        torch.manual_seed(0)
        image = tv_tensors.Image(torch.full((1, 64, 64), 0.5))
        boxes = tv_tensors.BoundingBoxes(
            torch.tensor([[1.0, 2.0, 30.0, 40.0]]), format="XYXY", canvas_size=(64, 64)
        )
        out_image, out_boxes = SaltAndPepper(0.1)(image, boxes)
        changed = out_image != 0.5
        assert 0 < int(changed.sum()) < 64 * 64 * 0.2
        assert set(out_image[changed].unique().tolist()) <= {0.0, 1.0}
        assert torch.equal(out_boxes, boxes)

    def test_bad_amount(self) -> None:
        """The amount is a fraction."""
        with pytest.raises(ValueError, match=r"amount must be in \[0, 1\]"):
            SaltAndPepper(2.0)
