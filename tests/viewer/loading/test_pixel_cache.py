"""PixelCache: LRU bounded by bytes."""

from __future__ import annotations

import numpy as np

from detector.imaging.decode import load_image
from viewer.loading.pixel_cache import PixelCache, image_nbytes


def test_evicts_least_recently_used_by_bytes(make_dicom):
    """Adding past the byte budget drops the least recently used frame."""
    images = [
        load_image(make_dicom(f"{i}.dcm", np.full((100, 100), i, np.uint8))) for i in range(3)
    ]
    size = image_nbytes(images[0])
    cache = PixelCache(max_bytes=2 * size)
    cache.put(images[0])
    cache.put(images[1])
    assert cache.get(images[0].path) is images[0]  # 0 is now the most recent
    cache.put(images[2])
    assert (images[1].path, 0) not in cache
    assert (images[0].path, 0) in cache and (images[2].path, 0) in cache
    assert cache.nbytes <= 2 * size


def test_keeps_newest_even_if_too_big(make_dicom):
    """A frame larger than the budget is still kept (it is the one on screen)."""
    image = load_image(make_dicom())
    cache = PixelCache(max_bytes=1)
    cache.put(image)
    assert len(cache) == 1 and cache.get(image.path) is image


def test_miss_returns_none():
    """An empty cache answers None."""
    assert PixelCache().get("nothing.dcm") is None
