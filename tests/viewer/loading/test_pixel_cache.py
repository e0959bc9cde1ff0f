"""PixelCache: LRU bounded by bytes."""

from __future__ import annotations

import numpy as np

from detector.imaging.decode import load_image
from detector.imaging.lut import Window
from detector.imaging.render import render
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


def test_detached_copy_shares_read_only_pixels_and_renders_the_same(make_dicom):
    """The copy for the detection worker: same pixels (shared, read-only), its own header and
    render caches; the original's LRU place is kept; a miss is None."""
    first = load_image(make_dicom("a.dcm", photometric="MONOCHROME1"))
    second = load_image(make_dicom("b.dcm"))
    cache = PixelCache()
    cache.put(first)
    cache.put(second)
    render(first, Window(100.0, 50.0), invert=False)  # the window's own rendering
    lut_keys = set(first._lut_cache)
    copy = cache.detached(first.path)
    assert copy is not None and copy is not first
    assert np.shares_memory(copy.stored, first.stored) and not copy.stored.flags.writeable
    assert first.stored.flags.writeable  # the window's array is left as it was
    assert copy.header is not first.header and copy.header == first.header
    assert copy._lut_cache == {} and copy.invert_default
    shown_by_copy = render(copy)
    assert set(first._lut_cache) == lut_keys  # rendering the copy leaves the original alone
    assert copy._lut_cache
    np.testing.assert_array_equal(shown_by_copy, render(first))
    assert list(cache._items) == [(first.path, 0), (second.path, 0)]  # order unchanged
    assert cache.detached("nothing.dcm") is None
