"""Improve fixtures: a review session of phantoms whose ground truth is imported and reviewed."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from detector.files.identity import identify
from detector.model.build import build_model
from detector.model.checkpoint import save_checkpoint
from detector.review.importing import import_labels
from detector.review.store import open_session
from detector.synth.phantoms import synthesize

SIZE = 64


@pytest.fixture(autouse=True)
def _data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PNEUMOVIEW_DATA_DIR", str(tmp_path / "data"))


def tiny_model(path: Path, bias: float) -> Path:
    """A tiny RetinaNet at 64 px whose classification bias sets how much it reports."""
    torch.manual_seed(0)
    model = build_model("retinanet", backbone="mobilenet_v3", min_size=SIZE)
    torch.nn.init.constant_(model.head.classification_head.cls_logits.bias, bias)
    save_checkpoint(
        path, model, {"arch": "retinanet", "backbone": "mobilenet_v3", "input_size": SIZE}
    )
    return path


def reviewed_session(
    folder: Path, count: int, *, seed: int = 3, reviewed: int | None = None
) -> Path:
    """``count`` 96 px phantoms, ground truth imported, the first ``reviewed`` marked reviewed."""
    images = folder / "images"
    synthesize(images, count, size=96, seed=seed)
    session = folder / "read.sqlite"
    state, store = open_session(session, reviewer="dr_a")
    try:
        state.add_images(identify(str(p)) for p in sorted(images.glob("*.dcm")))
        import_labels(state, images / "labels.csv")
        for key in list(state.images)[: count if reviewed is None else reviewed]:
            state.mark_reviewed(key)
    finally:
        store.close()
    return session


@pytest.fixture
def silent_model(tmp_path: Path) -> Path:
    """A tiny model that reports nothing (every score far below the 0.05 floor)."""
    (tmp_path / "models").mkdir()
    return tiny_model(tmp_path / "models" / "tiny.pt", -12.0)
