"""Synthetic pixel arrays shared by the imaging tests."""

from __future__ import annotations

import numpy as np


def ramp(rows: int = 16, cols: int = 256, dtype: type = np.uint8) -> np.ndarray:
    """``rows`` copies of 0, 1, ..., ``cols - 1`` as ``dtype``."""
    return np.tile(np.arange(cols, dtype=np.int64), (rows, 1)).astype(dtype)
