"""Background jobs as plain generators and functions (no Qt, no widgets, no state).

:mod:`viewer.main_window` runs them with superqt's ``thread_worker`` and applies their results
on the GUI thread. Worker code never touches widgets or :class:`viewer.state.ViewerState`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Generator, Sequence
from dataclasses import dataclass

import numpy as np

from detector.files.scan import ScanItem, Skipped, instance_from_header, iter_files, iter_scan
from detector.imaging.decode import DicomImage, load_image
from detector.imaging.read import DicomReadError
from detector.imaging.render import render, resize_display

logger = logging.getLogger(__name__)

#: Longer side of study-browser thumbnails, in pixels.
THUMBNAIL_SIZE = 64


@dataclass
class ScanBatch:
    """Files scanned since the previous batch, with progress (``total`` is 0 while counting).

    ``first_image`` is the decoded first image found, when the scan was asked to decode it
    (the viewer shows it without waiting for a second worker).
    """

    items: list[ScanItem]
    done: int
    total: int
    first_image: DicomImage | None = None


def scan_batches(
    paths: Sequence[str],
    cancel: threading.Event,
    *,
    batch_seconds: float = 0.1,
    max_batch: int = 200,
    decode_first: bool = False,
) -> Generator[ScanBatch, None, int]:
    """Scan ``paths`` and yield results in small batches so the GUI shows images as found.

    With ``decode_first`` the first readable image is decoded at once and yielded with the
    batch that contains it (a failure is left for the viewer's own loader to report).
    Returns the number of files scanned. Stops between two files once ``cancel`` is set.
    """
    files: list[str] = []
    skipped: list[Skipped] = []
    for path in iter_files(paths, skipped):
        files.append(path)
        if cancel.is_set():
            return 0
    total = len(files)
    yield ScanBatch([], 0, total)
    done = 0
    if decode_first and files and not cancel.is_set():
        # One read instead of two for the image shown first: decode it and take its header
        # from the decoded image. A file that fails here is scanned normally below.
        try:
            first = load_frame(files[0], 0)
        except DicomReadError:
            first = None
        if first is not None:
            item = ScanItem(files[0], instance=instance_from_header(files[0], first.header))
            yield ScanBatch([item], 1, total, first)
            done, files, decode_first = 1, files[1:], False
    batch: list[ScanItem] = []
    last = time.monotonic()
    items = iter_scan(files, cancelled=cancel.is_set)
    for item in items:
        batch.append(item)
        done += 1
        now = time.monotonic()
        if decode_first and item.instance is not None and item.instance.is_image:
            decode_first = False
            try:
                first = load_frame(item.path, 0)
            except DicomReadError:
                first = None
            yield ScanBatch(batch, done, max(total, done), first)
            batch = []
            last = now
            continue
        if len(batch) >= max_batch or now - last >= batch_seconds:
            yield ScanBatch(batch, done, max(total, done))
            batch = []
            last = now
    # Side files and FIFOs were not tried: they reach ScanResult.skipped, not the Problems list.
    batch.extend(ScanItem(s.path, skipped=s) for s in skipped)
    if batch:
        yield ScanBatch(batch, done, max(total, done))
    return done


def make_thumbnail(path: str, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """First frame, default window, resized so its longer side is ``size`` (uint8).

    Raises
    ------
    DicomReadError
        The pixels cannot be decoded.
    """
    image = load_image(path, 0)
    return resize_display(render(image), size)


def thumbnails(
    queue: deque[str],
    size: int = THUMBNAIL_SIZE,
    *,
    foreground: threading.Event | None = None,
) -> Generator[tuple[str, np.ndarray | None, str], None, None]:
    """Drain ``queue`` (the GUI may append while this runs); yield ``(path, pixels, error)``.

    While ``foreground`` is set (the image the reader asked for is being decoded) no new
    thumbnail is started, so the displayed image never waits behind the thumbnail queue.
    """
    while True:
        while foreground is not None and foreground.is_set():
            time.sleep(0.002)
        try:
            path = queue.popleft()
        except IndexError:
            return
        try:
            yield path, make_thumbnail(path, size), ""
        except DicomReadError as err:
            yield path, None, err.reason
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the thumbnails
            logger.debug("thumbnail of %s failed", path, exc_info=True)
            yield path, None, f"{type(exc).__name__}: {exc}"


def load_frame(path: str, frame: int) -> DicomImage:
    """Decode one frame (runs in a worker thread)."""
    image = load_image(path, frame)
    # Compute the automatic window here, off the GUI thread: the presets need it.
    _ = image.auto_window
    return image
