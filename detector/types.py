"""Plain result types shared by the detector, the command line, training and the viewer.

No torch here: the viewer imports this module at start-up.

Boxes are ``box_xyxy`` floats in pixels of the ORIGINAL image (before any resize for the model);
the RSNA files use ``(x, y, width, height)``, and :func:`xyxy_to_xywh` / :func:`xywh_to_xyxy`
convert between the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

#: Class names by label; label 0 is background (torchvision convention).
CLASS_NAMES: tuple[str, ...] = ("background", "Lung Opacity")

#: Label of the one foreground class.
LUNG_OPACITY = 1


@dataclass(frozen=True)
class Detection:
    """One detected finding.

    Attributes
    ----------
    box_xyxy : tuple of 4 float
        ``(x1, y1, x2, y2)`` in pixels of the original image, ``x1 <= x2``, ``y1 <= y2``.
    score : float
        Confidence in [0, 1].
    label : int
        Class index into :data:`CLASS_NAMES` (1 = Lung Opacity; 0 is background, never emitted).
    """

    box_xyxy: tuple[float, float, float, float]
    score: float
    label: int = LUNG_OPACITY

    @property
    def box_xywh(self) -> tuple[float, float, float, float]:
        """``(x, y, width, height)`` as in the RSNA files."""
        return xyxy_to_xywh(self.box_xyxy)

    @classmethod
    def from_xywh(
        cls, box_xywh: Sequence[float], score: float, label: int = LUNG_OPACITY
    ) -> Detection:
        """Build from an RSNA ``(x, y, width, height)`` box."""
        return cls(xywh_to_xyxy(box_xywh), float(score), int(label))


@dataclass
class DetectionResult:
    """All detections for one image.

    Attributes
    ----------
    image_id : str
        The RSNA ``patientId`` (file name without ``.dcm``) or the caller's request id.
    detections : list of Detection
        Sorted by decreasing score.
    image_size : tuple of 2 int
        ``(height, width)`` of the original image; ``(0, 0)`` when it could not be read.
    error : str or None
        ``None`` on success; otherwise the one-line reason the image could not be processed
        (``detections`` is then empty).
    """

    image_id: str
    detections: list[Detection] = field(default_factory=list)
    image_size: tuple[int, int] = (0, 0)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def above(self, threshold: float) -> list[Detection]:
        """Detections with ``score >= threshold``."""
        return [d for d in self.detections if d.score >= threshold]


def xyxy_to_xywh(box: Sequence[float]) -> tuple[float, float, float, float]:
    """``(x1, y1, x2, y2)`` -> ``(x, y, width, height)``."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return (x1, y1, x2 - x1, y2 - y1)


def xywh_to_xyxy(box: Sequence[float]) -> tuple[float, float, float, float]:
    """``(x, y, width, height)`` -> ``(x1, y1, x2, y2)``."""
    x, y, w, h = (float(v) for v in box)
    return (x, y, x + w, y + h)


#: Model architectures and backbones (here, without torch, so the CLI can list them headless).
ARCHES: tuple[str, ...] = ("retinanet", "fasterrcnn")
BACKBONES: tuple[str, ...] = ("resnet50", "resnet18", "mobilenet_v3", "efficientnet_lite0")
#: Trunk weights of a training run: ``auto`` = ImageNet where an installed package ships them.
PRETRAINED_CHOICES: tuple[str, ...] = ("auto", "imagenet", "none")
#: BatchNorm statistics of a timm trunk while training (``frozen``: ImageNet's).
BN_MODES: tuple[str, ...] = ("frozen", "train")
#: Training augmentation levels (detector.training.transforms).
AUGMENT_LEVELS: tuple[str, ...] = ("none", "light", "heavy", "heavy_rotations")
