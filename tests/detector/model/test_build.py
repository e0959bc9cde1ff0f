"""Model builders: every architecture/backbone builds offline, runs, trains and loads weights."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torchvision.models import resnet18

from detector.model.build import (
    ARCHES,
    BACKBONES,
    BackboneWeightsError,
    build_model,
    count_classes,
)


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("backbone", ["resnet18", "mobilenet_v3", "efficientnet_lite0"])
class TestBuildModelLight:
    def test_eval_output_contract(self, arch: str, backbone: str) -> None:
        """Eval mode returns one dict of boxes/scores/labels per image, boxes inside it."""
        model = build_model(arch, backbone=backbone, min_size=64).eval()
        # An untrained head scores everything low: keep every candidate so boxes come out.
        if arch == "retinanet":
            model.score_thresh = 0.0
        else:
            model.roi_heads.score_thresh = 0.0
        torch.manual_seed(0)
        with torch.inference_mode():
            out = model([torch.rand(3, 64, 48), torch.rand(3, 40, 64)])
        assert len(out) == 2
        for o, (h, w) in zip(out, [(64, 48), (40, 64)], strict=True):
            assert set(o) == {"boxes", "scores", "labels"}
            boxes = o["boxes"]
            assert boxes.ndim == 2 and boxes.shape[1] == 4 and len(boxes) > 0
            assert len(o["scores"]) == len(o["labels"]) == len(boxes)
            assert o["labels"].dtype == torch.int64
            assert float(boxes[:, 0].min()) >= 0 and float(boxes[:, 1].min()) >= 0
            assert float(boxes[:, 2].max()) <= w and float(boxes[:, 3].max()) <= h
            assert bool((boxes[:, 2] >= boxes[:, 0]).all() and (boxes[:, 3] >= boxes[:, 1]).all())

    def test_training_with_an_image_without_findings(self, arch: str, backbone: str) -> None:
        """A negative sample (no boxes) gives finite losses (zero box loss)."""
        model = build_model(arch, backbone=backbone, min_size=64).train()
        targets = [{"boxes": torch.zeros((0, 4)), "labels": torch.zeros(0, dtype=torch.int64)}]
        losses = model([torch.rand(3, 64, 64)], targets)
        assert all(torch.isfinite(v) for v in losses.values())
        box_keys = [k for k in losses if "box" in k and "rpn" not in k]
        assert all(float(losses[k].detach()) == 0.0 for k in box_keys)

    def test_class_count_is_readable_from_the_weights(self, arch: str, backbone: str) -> None:
        """count_classes recovers num_classes from the head's shape."""
        model = build_model(arch, backbone=backbone, num_classes=3, min_size=64)
        assert count_classes(arch, model.state_dict()) == 3


@pytest.mark.parametrize("arch", ARCHES)
def test_resnet50_v2_builds_offline(arch: str) -> None:
    """The full ResNet-50 FPN v2 models build with no download and a two-class head."""
    model = build_model(arch, backbone="resnet50", min_size=64)
    assert count_classes(arch, model.state_dict()) == 2
    assert type(model).__name__ == {"retinanet": "RetinaNet", "fasterrcnn": "FasterRCNN"}[arch]


class TestInputSizeTransform:
    def test_input_at_model_size_is_not_resized(self) -> None:
        """An image whose longer side is the input size reaches the backbone unchanged."""
        model = build_model("retinanet", backbone="mobilenet_v3", min_size=64).eval()
        image = torch.rand(3, 64, 40)
        resized, _ = model.transform.resize(image, None)
        assert resized is image

    def test_other_sizes_are_still_resized(self) -> None:
        """Anything else is resized as torchvision would (longer side capped at max_size)."""
        model = build_model("retinanet", backbone="mobilenet_v3", min_size=64).eval()
        resized, _ = model.transform.resize(torch.rand(3, 128, 128), None)
        assert tuple(resized.shape[-2:]) == (64, 64)


class TestBuildModelErrors:
    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"arch": "yolo"}, "unknown architecture 'yolo'"),
            ({"backbone": "vgg"}, "unknown backbone 'vgg'"),
            ({"num_classes": 1}, "num_classes counts background"),
        ],
    )
    def test_bad_arguments(self, kwargs: dict, message: str) -> None:
        """Unknown names and a class count without background are ValueErrors."""
        with pytest.raises(ValueError, match=message):
            build_model(**{"min_size": 64, **kwargs})

    def test_documented_names_are_the_supported_ones(self) -> None:
        """README's `train --arch A|B --backbone X|Y|Z` lists exactly ARCHES and BACKBONES."""
        readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
        arch = re.search(r"\[--arch ([\w\\|]+)\]", readme)
        backbone = re.search(r"\[--backbone ([\w\\|]+)\]", readme)
        assert arch is not None and backbone is not None
        assert set(arch.group(1).split("\\|")) == set(ARCHES)
        assert set(backbone.group(1).split("\\|")) == set(BACKBONES)


class TestBackboneWeights:
    def test_imagenet_state_dict_is_copied_into_the_trunk(self, tmp_path: Path) -> None:
        """A classifier state dict (without num_batches_tracked) fills the detector's trunk."""
        trunk = resnet18(weights=None)
        state = {k: v for k, v in trunk.state_dict().items() if "num_batches" not in k}
        path = tmp_path / "resnet18-imagenet.pth"
        torch.save(state, path)
        model = build_model("retinanet", backbone="resnet18", min_size=64, backbone_weights=path)
        assert torch.equal(model.backbone.body.conv1.weight, trunk.conv1.weight)
        assert torch.equal(
            model.backbone.body.layer4[1].bn2.running_var, trunk.layer4[1].bn2.running_var
        )

    def test_wrong_trunk_is_refused(self, tmp_path: Path) -> None:
        """Weights of another network name the file and what is missing."""
        path = tmp_path / "other.pth"
        torch.save({"conv.weight": torch.zeros(1)}, path)
        with pytest.raises(
            BackboneWeightsError, match=r"^other.pth: does not match the resnet18 trunk"
        ):
            build_model("retinanet", backbone="resnet18", min_size=64, backbone_weights=path)

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing weights file is reported by name."""
        with pytest.raises(BackboneWeightsError, match="none.pth: file not found"):
            build_model(backbone="resnet18", min_size=64, backbone_weights=tmp_path / "none.pth")
