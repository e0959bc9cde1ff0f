"""Fuzz: checkpoint metadata dicts with random keys and values.

``load_checkpoint`` must load or refuse with one-line :class:`CheckpointError`, never another
exception. What it loads must also be safe to use (issue 21, defects 8 and 9): every integer
fits a C ``int64`` (a Qt signal carries it) and the gate fields are in range.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from detector.model.checkpoint import (  # noqa: E402
    FORMAT,
    VERSION,
    CheckpointError,
    complete_meta,
    load_checkpoint,
)
from tests.fuzz.memory import rss_cap  # noqa: E402

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70) | st.sampled_from([2**63, 10**30, -1, 0, 4096, 4097]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10) | st.sampled_from(["abc", "rot90", "hflip", "none", "retinanet"]),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
_KEYS = st.sampled_from(
    [
        "arch",
        "backbone",
        "classes",
        "num_classes",
        "input_size",
        "equalize",
        "threshold",
        "image_threshold",
        "max_boxes",
        "tta",
        "metrics",
        "training",
        "created",
    ]
) | st.text(max_size=8)


@st.composite
def metadata(draw: st.DrawFn) -> dict[str, Any]:
    """A valid metadata dict with a few keys replaced, added or removed."""
    meta = complete_meta({"threshold": 0.3})
    for key in draw(st.lists(_KEYS, max_size=3, unique=True)):
        if draw(st.integers(0, 4)) == 0:
            meta.pop(key, None)
        else:
            meta[key] = draw(_VALUES)
    return meta


def _load(meta: dict[str, Any]) -> dict[str, Any] | None:
    """Save ``meta`` as a checkpoint (bypassing the writer's checks) and load it back."""
    with tempfile.TemporaryDirectory() as tmp, rss_cap():
        path = Path(tmp) / "model.pt"
        payload = {"format": FORMAT, "version": VERSION, "state_dict": {}, "meta": meta}
        torch.save(payload, path)
        try:
            _state, loaded = load_checkpoint(path)
        except CheckpointError as err:
            assert "\n" not in str(err) and str(err).startswith("model.pt: "), str(err)
            event("refused")
            return None
        event("loaded")
        return loaded


@given(metadata())
def test_random_metadata_loads_or_is_refused_in_one_line(meta):
    """Any metadata: a loaded checkpoint or one line naming the file, never a traceback."""
    _load(meta)


def _ints(value: Any) -> list[int]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, dict):
        return [i for v in value.values() for i in _ints(v)]
    if isinstance(value, list):
        return [i for v in value for i in _ints(v)]
    return []


@given(metadata())
def test_loaded_metadata_is_safe_to_use(meta):
    """What loads has int64 integers only, and the gate fields in range."""
    loaded = _load(meta)
    if loaded is None:
        return
    assert all(-(2**63) <= i < 2**63 for i in _ints(loaded))
    image_threshold = loaded.get("image_threshold")  # None or absent: no image gate
    assert image_threshold is None or (
        isinstance(image_threshold, int | float) and 0.0 <= image_threshold <= 1.0
    )
    max_boxes = loaded.get("max_boxes")
    assert max_boxes is None or (isinstance(max_boxes, int) and max_boxes >= 1)
    assert loaded.get("tta") in (None, "none", "hflip")
    assert not any(isinstance(v, float) and math.isnan(v) for v in loaded.values())
