"""Small stand-in detection models for the viewer's detection tests (torch imported lazily).

They follow torchvision's detection contract (a list of float ``[3, H, W]`` images in, one
``{"boxes", "scores", "labels"}`` dict per image out) so the real :class:`Detector`, worker and
controller run unchanged around them.
"""

from __future__ import annotations

import threading
import time
from typing import Any


def brightness_model(delay_s: float = 0.0, gate: threading.Event | None = None) -> Any:
    """One box per image whose size and score follow the image's mean brightness.

    Different images give different, predictable boxes: ``(0, 0, m*W, m*H)`` with score ``m``
    (``m`` = mean of the model input in [0, 1]). ``delay_s`` sleeps per call (GIL released);
    ``gate`` blocks each call until set.
    """
    import torch
    from torch import nn

    class Brightness(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
            self.calls += 1
            if gate is not None:
                gate.wait(10)
            if delay_s:
                time.sleep(delay_s)
            out = []
            for image in images:
                m = float(image.mean())
                h, w = image.shape[-2:]
                out.append(
                    {
                        "boxes": torch.tensor([[0.0, 0.0, m * w, m * h]]),
                        "scores": torch.tensor([m]),
                        "labels": torch.tensor([1]),
                    }
                )
            return out

    return Brightness()


def failing_model(message: str = "the model broke") -> Any:
    """A model whose forward pass raises ``RuntimeError(message)``."""
    from torch import nn

    class Failing(nn.Module):
        def forward(self, images):  # noqa: ANN001, ANN202
            raise RuntimeError(message)

    return Failing()


def make_detector(model: Any, input_size: int = 64, **meta: Any) -> Any:
    from detector.model.inference import Detector

    full = {"input_size": input_size, "threshold": 0.3, "description": "test model", **meta}
    return Detector(model=model, meta=full, device="cpu", batch_size=1)
