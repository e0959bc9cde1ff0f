"""Detection models: torchvision RetinaNet / Faster R-CNN built from scratch, never downloaded.

``build_model("retinanet", backbone="resnet50")`` is torchvision's RetinaNet ResNet-50 FPN v2
(focal loss, GIoU box loss, GroupNorm heads) and ``"fasterrcnn"`` its Faster R-CNN ResNet-50 FPN v2,
both built with ``weights=None, weights_backbone=None``. The light backbones (``resnet18``,
``mobilenet_v3`` = MobileNetV3-Large) plug torchvision's FPN backbone helpers into the same
detectors, for CPU-only machines and for tests.

``efficientnet_lite0`` is timm's EfficientNet-Lite0 trunk under a 128-channel FPN
(:mod:`detector.model.timm_fpn`), with ImageNet weights from an installed package
(:mod:`detector.model.pretrained`) when ``pretrained=True``. Its input is scaled to [-1, 1]
(mean 0.5, std 0.5 per channel), the scaling those weights were trained with: the stem's
BatchNorm statistics match real chest X-rays scaled that way, and are 3.7x off in variance with
torchvision's ImageNet mean/std.

Images reach the model already resized by :mod:`detector.model.preprocess` (longer side =
``input_size``); the model's own transform only normalises and pads, it never resizes again.
Every backbone uses plain ``BatchNorm2d`` so that a state dict always has the same keys whatever
the caller later freezes.
"""

from __future__ import annotations

import logging
import os
from functools import partial
from typing import Any, cast

import torch
from torch import nn
from torchvision.models import mobilenet_v3_large, resnet18, resnet50
from torchvision.models.detection import (
    FasterRCNN,
    RetinaNet,
    fasterrcnn_resnet50_fpn_v2,
    retinanet_resnet50_fpn_v2,
)
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import (
    BackboneWithFPN,
    mobilenet_backbone,
    resnet_fpn_backbone,
)
from torchvision.models.detection.retinanet import RetinaNetHead
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

logger = logging.getLogger(__name__)

from detector.errors import PneumoViewError  # noqa: E402
from detector.model.pretrained import imagenet_state  # noqa: E402
from detector.model.timm_fpn import TimmFpnBackbone, timm_classifier  # noqa: E402
from detector.types import ARCHES, BACKBONES  # noqa: E402, F401

#: Name of the classification layer whose first dimension counts the classes, per architecture.
CLASS_WEIGHT_KEYS = {
    "retinanet": "head.classification_head.cls_logits.weight",
    "fasterrcnn": "roi_heads.box_predictor.cls_score.weight",
}


class BackboneWeightsError(PneumoViewError, ValueError):
    """A backbone weights file cannot be used; ``str(err)`` is ``"<file name>: <reason>"``."""


class _InputSizeTransform(GeneralizedRCNNTransform):
    """Normalise and pad only: skip torchvision's resize when it would be a no-op.

    Our inputs already have the longer side equal to ``max_size`` (see
    :func:`detector.model.preprocess.model_gray`); torchvision would still run a bilinear
    interpolation at scale 1.0 on every image.
    """

    def resize(
        self, image: torch.Tensor, target: dict[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
        if self.fixed_size is None and (not self.training or len(self.min_size) == 1):
            h, w = image.shape[-2:]
            scale = min(self.min_size[-1] / min(h, w), self.max_size / max(h, w))
            if abs(scale - 1.0) < 1e-6:
                return image, target
        return super().resize(image, target)


#: Per-channel input scaling of backbones trained with other than torchvision's ImageNet mean/std.
INPUT_SCALING: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "efficientnet_lite0": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}


def _light_backbone(
    name: str, arch: str, *, pretrained: bool = False, bn: str = "frozen"
) -> tuple[nn.Module, AnchorGenerator]:
    """An FPN backbone and a matching anchor generator for the light backbones."""
    retina = arch == "retinanet"
    sizes_5 = (32, 64, 128, 256, 512)
    backbone: nn.Module
    if name == "efficientnet_lite0":
        timm_fpn = TimmFpnBackbone(name, retinanet=retina, bn=bn)
        if pretrained:
            classifier = timm_classifier(name)
            state = imagenet_state(name, classifier.state_dict())
            timm_fpn.load_trunk(state)
        backbone = timm_fpn
        levels = 5 if retina else 4
    elif name == "resnet18":
        backbone = resnet_fpn_backbone(
            backbone_name="resnet18",
            weights=None,
            norm_layer=nn.BatchNorm2d,
            trainable_layers=5,
            returned_layers=[2, 3, 4] if retina else [1, 2, 3, 4],
            extra_blocks=LastLevelP6P7(256, 256) if retina else None,
        )
        levels = 5
    elif name == "mobilenet_v3":
        # Stages of MobileNetV3-Large end at strides 2, 4, 8, 16, 32 (indices 1..5).
        backbone = mobilenet_backbone(
            backbone_name="mobilenet_v3_large",
            weights=None,
            fpn=True,
            norm_layer=nn.BatchNorm2d,
            trainable_layers=6,
            returned_layers=[3, 4, 5] if retina else [4, 5],
            extra_blocks=LastLevelP6P7(256, 256) if retina else None,
        )
        levels = 5 if retina else 3
    else:  # pragma: no cover - build_model validates the name first
        raise ValueError(name)
    if retina:
        # Three scales per octave, as torchvision's RetinaNet.
        anchor_sizes: tuple[tuple[int, ...], ...] = tuple(
            (x, int(x * 2 ** (1.0 / 3)), int(x * 2 ** (2.0 / 3))) for x in sizes_5
        )
    elif levels == 5:
        anchor_sizes = tuple((x,) for x in sizes_5)
    else:
        anchor_sizes = (sizes_5,) * levels
    anchors = AnchorGenerator(anchor_sizes, ((0.5, 1.0, 2.0),) * len(anchor_sizes))
    return backbone, anchors


def build_model(
    arch: str = "retinanet",
    *,
    backbone: str = "resnet50",
    num_classes: int = 2,
    min_size: int = 512,
    max_size: int | None = None,
    backbone_weights: str | os.PathLike[str] | None = None,
    pretrained: bool = False,
    bn: str = "frozen",
) -> nn.Module:
    """Build an untrained detector (nothing is downloaded).

    Parameters
    ----------
    arch : {"retinanet", "fasterrcnn"}
    backbone : {"resnet50", "resnet18", "mobilenet_v3", "efficientnet_lite0"}
        ``resnet50`` gives torchvision's ``*_resnet50_fpn_v2`` models; the others are light.
    num_classes : int
        Including background (2 = background + Lung Opacity).
    min_size, max_size : int
        The model input size: images arrive with the longer side = ``max_size`` (default
        ``min_size``), so the model's transform does not resize them again.
    backbone_weights : path, optional
        A local ImageNet classification state dict for the backbone trunk (e.g. torchvision's
        ``resnet50-*.pth`` copied by hand), loaded with ``weights_only=True``.
    pretrained : bool
        Load the ImageNet weights an installed package ships (``efficientnet_lite0`` only).
    bn : {"frozen", "train"}
        BatchNorm statistics of a timm trunk in training mode (see :mod:`detector.model.timm_fpn`).

    Returns
    -------
    torch.nn.Module
        A torchvision ``RetinaNet`` or ``FasterRCNN`` in training mode.

    Raises
    ------
    ValueError
        Unknown ``arch``/``backbone`` or ``num_classes < 2``.
    BackboneWeightsError
        ``backbone_weights`` is missing, unreadable or does not fit the trunk.
    """
    if arch not in ARCHES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHES)}")
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")
    if int(num_classes) < 2:
        raise ValueError(f"num_classes counts background and must be >= 2, not {num_classes}")
    if int(min_size) < 32:
        raise ValueError(f"min_size must be >= 32, not {min_size}")
    max_size = int(max_size or min_size)
    size_kw: dict[str, Any] = {"min_size": int(min_size), "max_size": max_size}
    model: nn.Module
    if backbone == "resnet50":
        if arch == "retinanet":
            model = retinanet_resnet50_fpn_v2(
                weights=None, weights_backbone=None, num_classes=num_classes, **size_kw
            )
        else:
            model = fasterrcnn_resnet50_fpn_v2(
                weights=None, weights_backbone=None, num_classes=num_classes, **size_kw
            )
    else:
        if pretrained and backbone != "efficientnet_lite0":
            raise ValueError(f"no packaged ImageNet weights for {backbone}; use backbone_weights")
        fpn, anchors = _light_backbone(backbone, arch, pretrained=pretrained, bn=bn)
        channels = cast(int, fpn.out_channels)
        scaling = INPUT_SCALING.get(backbone)
        if scaling is not None:
            size_kw["image_mean"], size_kw["image_std"] = list(scaling[0]), list(scaling[1])
        if arch == "retinanet":
            head = RetinaNetHead(
                channels,
                anchors.num_anchors_per_location()[0],
                num_classes,
                norm_layer=partial(nn.GroupNorm, min(32, channels // 4)),
            )
            head.regression_head._loss_type = "giou"
            model = RetinaNet(fpn, num_classes, anchor_generator=anchors, head=head, **size_kw)
        else:
            if backbone == "efficientnet_lite0":
                # Levels "0", "1", "2" (strides 8-32) and "pool"; RoIs pooled from the first three.
                size_kw["box_roi_pool"] = MultiScaleRoIAlign(["0", "1", "2"], 7, 2)
            model = FasterRCNN(fpn, num_classes, rpn_anchor_generator=anchors, **size_kw)
    old = model.transform
    assert isinstance(old, GeneralizedRCNNTransform)
    model.transform = _InputSizeTransform(
        old.min_size, old.max_size, old.image_mean, old.image_std, size_divisible=32
    )
    if backbone_weights is not None:
        if backbone == "efficientnet_lite0":
            raise ValueError("efficientnet_lite0 takes its ImageNet weights from its package")
        load_backbone_weights(model, backbone, backbone_weights)
    return model


def _trunk_for(backbone: str) -> nn.Module:
    if backbone == "resnet50":
        return resnet50(weights=None)
    if backbone == "resnet18":
        return resnet18(weights=None)
    return mobilenet_v3_large(weights=None)


def load_backbone_weights(model: nn.Module, backbone: str, path: str | os.PathLike[str]) -> None:
    """Copy an ImageNet classification state dict into the detector's backbone trunk.

    The file must hold the state dict of torchvision's classifier for ``backbone``
    (``resnet50``, ``resnet18`` or ``mobilenet_v3_large``); a ``"state_dict"`` / ``"model"``
    wrapper and a ``"module."`` prefix are accepted. Every trunk weight must be present.

    Raises
    ------
    BackboneWeightsError
        Missing file, not loadable with ``weights_only=True``, or keys/shapes that do not match.
    """
    spath = str(path)
    if not os.path.isfile(spath):
        raise BackboneWeightsError(spath, "file not found")
    try:
        raw = torch.load(spath, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means "cannot use this file"
        text = str(exc)
        try:
            with open(spath, "rb") as fh:
                head = fh.read(4)
        except OSError:
            head = b"PK"  # unreadable: keep torch's own reason below
        if not head.startswith(b"PK") and head[:1] != b"\x80":
            # Neither a torch zip archive nor a pickle: random bytes, a PNG, a text file...
            reason = "not a state dict (not a PyTorch weights file)"
        elif "Weights only load failed" in text:
            reason = "refused: not plain weights (it holds Python objects; weights_only=True)"
        else:
            first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
            reason = f"cannot be loaded as weights ({first[:160]})"
        raise BackboneWeightsError(spath, reason) from None
    if isinstance(raw, dict):
        for wrapper in ("state_dict", "model"):
            if isinstance(raw.get(wrapper), dict):
                raw = raw[wrapper]
                break
    if not isinstance(raw, dict) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise BackboneWeightsError(spath, "not a state dict (a mapping of names to tensors)")
    state = {str(k).removeprefix("module."): v for k, v in raw.items()}
    trunk = _trunk_for(backbone)
    trunk_state = trunk.state_dict()
    # torchvision's published ImageNet files predate BatchNorm's num_batches_tracked counter.
    missing = sorted(
        k for k in trunk_state if k not in state and not k.endswith("num_batches_tracked")
    )
    if missing:
        raise BackboneWeightsError(
            spath,
            f"does not match the {backbone} trunk: {len(missing)} weight(s) missing "
            f"(e.g. {', '.join(missing[:3])})",
        )
    wrong = [
        k
        for k in trunk_state
        if k in state and tuple(state[k].shape) != tuple(trunk_state[k].shape)
    ]
    if wrong:
        raise BackboneWeightsError(
            spath,
            f"does not match the {backbone} trunk: {len(wrong)} weight(s) with another shape "
            f"(e.g. {wrong[0]}: {tuple(state[wrong[0]].shape)} instead of "
            f"{tuple(trunk_state[wrong[0]].shape)})",
        )
    trunk.load_state_dict({k: state[k] for k in trunk_state if k in state}, strict=False)
    body = cast(nn.Module, cast(BackboneWithFPN, model.backbone).body)
    source = cast(nn.Module, trunk.features) if backbone == "mobilenet_v3" else trunk
    source_state = source.state_dict()
    body.load_state_dict({k: source_state[k] for k in body.state_dict()}, strict=True)
    logger.info("loaded %s backbone weights from %s", backbone, spath)


def count_classes(arch: str, state_dict: dict[str, torch.Tensor]) -> int | None:
    """Number of classes (including background) that a state dict's head was trained for."""
    weight = state_dict.get(CLASS_WEIGHT_KEYS.get(arch, ""))
    if weight is None:
        return None
    if arch == "retinanet":
        cls_bias = state_dict.get("head.classification_head.cls_logits.bias")
        reg = state_dict.get("head.regression_head.bbox_reg.weight")
        if reg is None or cls_bias is None:
            return None
        anchors = int(reg.shape[0]) // 4
        return int(cls_bias.shape[0]) // anchors if anchors else None
    return int(weight.shape[0])
