"""Choose a checkpoint's gate and test-time augmentation on validation images.

:func:`calibrate` runs the model once over the validation images at a low threshold, with and
without horizontal-flip TTA, chooses for each the :class:`~detector.model.gating.Gate` that maximises
the RSNA metric (:func:`detector.model.gating.choose_gate`), keeps the better variant (plain wins a
tie: it is half the cost) and returns the checkpoint metadata to store: ``threshold``,
``image_threshold``, ``max_boxes``, ``tta`` and ``metrics`` measured with exactly that setting
(optimistic: chosen and scored on the same images), ``metrics["rsna_map_heldout_gate"]`` (the
honest estimate: :func:`detector.model.gating.split_half`), plus a ``calibration`` record of every
variant. ``pneumoview calibrate`` writes it into the
checkpoint, so ``detect`` and the viewer apply the chosen setting by default.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from detector.model.gating import Gate, choose_gate, split_half
from detector.model.tta import TTA_CHOICES
from detector.training.engine import METRIC_KEYS as TRAIN_METRIC_KEYS

#: Predictions below this score are not kept while calibrating (the sweep starts at 0.10).
FLOOR = 0.05
#: Metric keys stored in the checkpoint: training's, less the threshold (the gate holds it).
METRIC_KEYS = tuple(k for k in TRAIN_METRIC_KEYS if k != "threshold")

Rows = list[tuple[float, float, float, float, float]]


@dataclass
class Calibration:
    """The outcome: the chosen setting and what every variant scored."""

    gate: Gate
    tta: str
    metrics: dict[str, float]
    variants: list[dict[str, Any]] = field(default_factory=list)
    predictions: dict[str, dict[str, Rows]] = field(default_factory=dict)

    def meta_update(self) -> dict[str, Any]:
        """Keys to merge into the checkpoint metadata."""
        return {
            **self.gate.as_meta(),
            "tta": self.tta,
            "metrics": dict(self.metrics),
            "calibration": {"variants": self.variants},
        }


def _metrics(full: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for key in METRIC_KEYS:
        value = float(full.get(key, math.nan))
        out[key] = round(value, 6) if math.isfinite(value) else value
    return out


def predict_rows(
    checkpoint: str | os.PathLike[str],
    paths: Sequence[str],
    ids: Sequence[str],
    *,
    tta: str,
    device: str = "auto",
    batch_size: int = 8,
) -> dict[str, Rows]:
    """``image id -> [(score, x, y, w, h), ...]`` at :data:`FLOOR` (no gate)."""
    from detector.model.inference import Detector

    detector = Detector(checkpoint, device=device, batch_size=batch_size, tta=tta)
    results = detector.predict(list(paths), image_ids=list(ids), threshold=FLOOR)
    out: dict[str, Rows] = {}
    for result in results:
        if result.error is None:
            out[result.image_id] = [(d.score, *d.box_xywh) for d in result.detections]
    return out


def calibrate(
    checkpoint: str | os.PathLike[str],
    truth: Mapping[str, Sequence[Sequence[float]]],
    paths: Mapping[str, str],
    *,
    tta_choices: Sequence[str] = TTA_CHOICES,
    device: str = "auto",
    batch_size: int = 8,
) -> Calibration:
    """Pick the gate and TTA that maximise the RSNA metric on ``truth``'s images.

    Parameters
    ----------
    truth : mapping
        Validation ``image id -> [(x, y, w, h), ...]`` (``[]`` for a negative image).
    paths : mapping
        ``image id -> file``; every id of ``truth`` must be present.
    """
    ids = sorted(truth)
    missing = [i for i in ids if i not in paths]
    if missing:
        raise ValueError(f"{len(missing)} validation image(s) not found, e.g. {missing[0]}")
    files = [paths[i] for i in ids]
    best: Calibration | None = None
    variants: list[dict[str, Any]] = []
    predictions: dict[str, dict[str, Rows]] = {}
    for tta in tta_choices:
        preds = predict_rows(checkpoint, files, ids, tta=tta, device=device, batch_size=batch_size)
        predictions[tta] = preds
        read = [i for i in ids if i in preds]
        sub_truth = {i: truth[i] for i in read}
        plain_gate, plain = choose_gate(sub_truth, preds, image_thresholds=(), max_boxes=(None,))
        gate, gated = choose_gate(sub_truth, preds)
        for name, g, m in (("threshold", plain_gate, plain), ("gate", gate, gated)):
            variants.append(
                {
                    "tta": tta,
                    "selection": name,
                    **g.as_meta(),
                    **_metrics(m),
                    "unread": len(ids) - len(read),
                }
            )
        candidate = Calibration(gate, tta, _metrics(gated))
        value = candidate.metrics["rsna_map"]
        if best is None or (math.isfinite(value) and value > best.metrics["rsna_map"] + 1e-9):
            best = candidate
    assert best is not None
    chosen = predictions[best.tta]
    heldout = split_half({i: truth[i] for i in ids if i in chosen}, chosen)["rsna_map"]
    best.metrics["rsna_map_heldout_gate"] = round(heldout, 6)
    best.variants = variants
    best.predictions = predictions
    return best
