"""A bounded cache of decoded frames, least recently used first out, sized in bytes (no Qt).

The window renders the frames it holds (filling their lazy modality array and LUT caches);
:meth:`PixelCache.detached` gives another thread (the detection worker) its own copy to read.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections import OrderedDict

from detector.imaging.decode import DicomImage

#: Default budget for decoded pixels (a 2500x2048 16-bit frame with its float copy is ~30 MB).
DEFAULT_CACHE_BYTES = 384 * 1024 * 1024


def image_nbytes(image: DicomImage) -> int:
    """Bytes held by a decoded frame: stored array, modality copy and render LUTs."""
    total = int(image.stored.nbytes)
    if image._modality is not None and image._modality is not image.stored:
        total += int(image._modality.nbytes)
    total += sum(int(lut.nbytes) for lut in image._lut_cache.values())
    return total


class PixelCache:
    """LRU of :class:`DicomImage` keyed by ``(path, frame)``, bounded by total bytes.

    The most recently added image is always kept, even if it alone exceeds the budget, so the
    displayed frame never has to be decoded twice. Thread-safe (a prefetch worker may add).
    """

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[tuple[str, int], DicomImage] = OrderedDict()
        self._sizes: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    @property
    def nbytes(self) -> int:
        return sum(self._sizes.values())

    def get(self, path: str, frame: int = 0) -> DicomImage | None:
        key = (path, frame)
        with self._lock:
            image = self._items.get(key)
            if image is not None:
                self._items.move_to_end(key)
                # LUTs and the modality copy grow after the first render: re-measure.
                self._sizes[key] = image_nbytes(image)
            return image

    def detached(self, path: str, frame: int = 0) -> DicomImage | None:
        """A copy of the cached frame that another thread may read, or None when not cached.

        The pixels are shared, not copied, through a read-only view; the header, the window
        list and the lazy render caches are the copy's own, so the window can keep rendering
        the original meanwhile. Rendering the copy gives the same pixels as the original.
        The least-recently-used order is not changed (running the detector is not viewing).
        """
        with self._lock:
            image = self._items.get((path, frame))
        if image is None:
            return None
        pixels = image.stored.view()
        pixels.flags.writeable = False
        return dataclasses.replace(
            image,
            header=copy.deepcopy(image.header),
            stored=pixels,
            windows=list(image.windows),
            warnings=list(image.warnings),
            _modality=None,
            _lut_cache={},
            _auto_window=image._auto_window,
        )

    def put(self, image: DicomImage) -> None:
        key = (image.path, image.frame)
        with self._lock:
            self._items[key] = image
            self._items.move_to_end(key)
            self._sizes[key] = image_nbytes(image)
            self._evict(keep=key)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._sizes.clear()

    def _evict(self, keep: tuple[str, int]) -> None:
        while len(self._items) > 1 and sum(self._sizes.values()) > self.max_bytes:
            oldest = next(iter(self._items))
            if oldest == keep:
                self._items.move_to_end(oldest)
                continue
            del self._items[oldest]
            del self._sizes[oldest]
