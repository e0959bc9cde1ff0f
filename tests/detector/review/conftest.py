"""Review tests never touch the real user data folder; ``state`` is a review of two images."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from detector.review import ReviewState


@pytest.fixture(autouse=True)
def _data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PNEUMOVIEW_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def state() -> ReviewState:
    """Images ``1.2.3/0`` (pa) and ``1.2.4/0`` (pb), reviewer ``dr_a``, a clock from 1000 s."""
    ticks = itertools.count(1000)
    st = ReviewState(reviewer="dr_a", clock=lambda: float(next(ticks)))
    st.add_image("1.2.3/0", "pa", path="/d/pa.dcm", sop_instance_uid="1.2.3")
    st.add_image("1.2.4/0", "pb", path="/d/pb.dcm", sop_instance_uid="1.2.4")
    return st
