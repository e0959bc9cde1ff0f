"""Shared fixtures. DICOMs are generated here; no patient data and nothing from ../shared."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from detector.imaging.dicom_write import compress_jpeg_baseline, new_image_dataset, save_dataset  # noqa: E402


def chest_like(size: int = 64, seed: int = 0) -> np.ndarray:
    """A small 8-bit image with structure (two dark 'lungs' in a brighter body)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    body = 170 - 60 * (((xx - 0.3) / 0.15) ** 2 + ((yy - 0.5) / 0.3) ** 2 < 1)
    body = body - 60 * (((xx - 0.7) / 0.15) ** 2 + ((yy - 0.5) / 0.3) ** 2 < 1)
    img = body + rng.normal(0, 6, (size, size))
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture
def make_dicom(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``make_dicom(name, pixels=None, jpeg=False, **attributes) -> Path``."""

    def _make(
        name: str = "image.dcm",
        pixels: np.ndarray | None = None,
        *,
        jpeg: bool = False,
        photometric: str = "MONOCHROME2",
        folder: Path | None = None,
        **attributes: object,
    ) -> Path:
        arr = chest_like() if pixels is None else pixels
        ds = new_image_dataset(arr, photometric=photometric, **attributes)
        if jpeg:
            compress_jpeg_baseline(ds)
        path = (folder or tmp_path) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        save_dataset(ds, path)
        return path

    return _make
