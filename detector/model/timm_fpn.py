"""A timm trunk (EfficientNet-Lite) under torchvision's feature pyramid, for RetinaNet/Faster R-CNN.

The trunk is built by timm with ``features_only=True`` and gives the stride 8/16/32 maps;
torchvision's :class:`~torchvision.ops.FeaturePyramidNetwork` turns them into ``out_channels``
maps (plus P6/P7 for RetinaNet, a max-pool level for Faster R-CNN). 128 pyramid channels instead
of torchvision's 256 keep the RetinaNet head four times cheaper, which is what makes 384-512 px
usable on two CPU cores.

``bn="frozen"`` keeps the trunk's BatchNorm statistics at their ImageNet values while the
affine parameters still learn (the usual choice for detection fine-tuning with small batches);
the modules stay plain ``BatchNorm2d`` so a state dict has the same keys either way.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import timm
import torch
from torch import nn
from torchvision.ops.feature_pyramid_network import (
    FeaturePyramidNetwork,
    LastLevelMaxPool,
    LastLevelP6P7,
)

from detector.types import BN_MODES

#: timm model name per backbone choice.
TIMM_NAMES = {"efficientnet_lite0": "efficientnet_lite0"}
FPN_CHANNELS = 128


def timm_classifier(backbone: str) -> nn.Module:
    """The whole timm classifier (its state dict names the packaged ImageNet tensors)."""
    return timm.create_model(TIMM_NAMES[backbone], pretrained=False)


class TimmFpnBackbone(nn.Module):
    """``body`` (timm features) + ``fpn``; ``out_channels`` as torchvision's detectors expect."""

    def __init__(self, backbone: str, *, retinanet: bool, bn: str = "frozen") -> None:
        super().__init__()
        if bn not in BN_MODES:
            raise ValueError(f"bn must be one of {', '.join(BN_MODES)}, not {bn!r}")
        self.body = timm.create_model(
            TIMM_NAMES[backbone], pretrained=False, features_only=True, out_indices=(2, 3, 4)
        )
        info: Any = self.body.feature_info
        channels = [int(c) for c in info.channels()]
        self.out_channels: int = FPN_CHANNELS
        extra = LastLevelP6P7(FPN_CHANNELS, FPN_CHANNELS) if retinanet else LastLevelMaxPool()
        self.fpn = FeaturePyramidNetwork(channels, FPN_CHANNELS, extra_blocks=extra)
        self.bn = bn

    def load_trunk(self, classifier_state: dict[str, torch.Tensor]) -> int:
        """Load the trunk's tensors from a full classifier state; returns how many were used."""
        own = self.body.state_dict()
        missing = [k for k in own if k not in classifier_state]
        if missing:
            raise KeyError(f"{len(missing)} trunk tensor(s) missing, e.g. {missing[0]}")
        self.body.load_state_dict({k: classifier_state[k] for k in own}, strict=True)
        return len(own)

    def train(self, mode: bool = True) -> TimmFpnBackbone:
        super().train(mode)
        if mode and self.bn == "frozen":
            for module in self.body.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.body(x)
        return self.fpn(OrderedDict((str(i), f) for i, f in enumerate(feats)))
