"""Opening files and folders: the background scan and the thumbnail queue of a window.

:class:`ScanController` runs :func:`viewer.platform.workers.scan_batches` and
:func:`viewer.platform.workers.thumbnails` in superqt workers and applies their results on the GUI thread
(images to the :class:`viewer.state.ViewerState`, thumbnails to the study browser, unreadable
files to the state's problems). Its signals tell the window what to show (progress, messages).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui
from superqt.utils import WorkerBase, create_worker

from detector.files.scan import Instance, Problem
from viewer.loading.pixel_cache import PixelCache
from viewer.panels.study_browser import StudyBrowser
from viewer.platform.settings import AppSettings
from viewer.platform.workers import ScanBatch, scan_batches, thumbnails
from viewer.state import ViewerState

logger = logging.getLogger(__name__)


def array_to_qimage(pixels: np.ndarray) -> QtGui.QImage:
    """uint8 grey (H, W) or RGB (H, W, 3) -> a QImage that owns a copy of the pixels."""
    arr = np.ascontiguousarray(pixels)
    h, w = arr.shape[:2]
    if arr.ndim == 2:
        image = QtGui.QImage(arr.data, w, h, arr.strides[0], QtGui.QImage.Format.Format_Grayscale8)
    else:
        image = QtGui.QImage(arr.data, w, h, arr.strides[0], QtGui.QImage.Format.Format_RGB888)
    return image.copy()


def start_worker(
    func: Callable[..., object],
    *args: object,
    connect: dict[str, Callable[..., object]],
    **kwargs: object,
) -> WorkerBase:
    """Run ``func(*args, **kwargs)`` in a superqt thread worker with signal ``connect``ions.

    Every worker gets an ``errored`` handler (logging when none is given), so a failure in a
    background job is reported, never re-raised into the event loop.
    """
    handlers = dict(connect)
    handlers.setdefault("errored", lambda exc: logger.warning("background job failed: %s", exc))
    return create_worker(func, *args, _connect=handlers, _start_thread=True, **kwargs)


class ScanController(QtCore.QObject):
    """The scans (one at a time, later ones queued) and thumbnails of one window.

    Parameters
    ----------
    state : ViewerState
        Receives the images found and the files that cannot be read.
    cache : PixelCache
        Receives the first image, decoded by the scan.
    prefs : AppSettings
        Its recent-files list remembers what is opened.
    browser : StudyBrowser
        Shows the thumbnails.
    foreground : threading.Event
        Set while the displayed image decodes: thumbnails wait.

    Signals
    -------
    opening(list)
        Paths are about to be scanned (what File > Recent remembers, already added to it).
    started(str)
        A scan started (its status-bar line).
    progress(int, int)
        Files scanned and files found so far.
    message(str, int)
        A status-bar line and how long it shows (ms).
    failed(str)
        The scan stopped on an error (its text).
    finished()
        A scan ended (completed or cancelled) and no other is queued.
    thumbnails_finished()
        The thumbnail queue is empty.
    """

    opening = QtCore.Signal(list)
    started = QtCore.Signal(str)
    progress = QtCore.Signal(int, int)
    message = QtCore.Signal(str, int)
    failed = QtCore.Signal(str)
    finished = QtCore.Signal()
    thumbnails_finished = QtCore.Signal()

    def __init__(
        self,
        state: ViewerState,
        cache: PixelCache,
        prefs: AppSettings,
        browser: StudyBrowser,
        foreground: threading.Event,
        parent: QtCore.QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.cache = cache
        self.prefs = prefs
        self.browser = browser
        self.foreground = foreground
        self._closing = False
        self._scan_worker: WorkerBase | None = None
        self._scan_cancel = threading.Event()
        self._pending: list[list[str]] = []
        self._thumb_queue: deque[str] = deque()
        self._thumb_worker: WorkerBase | None = None

    @property
    def is_scanning(self) -> bool:
        return self._scan_worker is not None or bool(self._pending)

    @property
    def thumbnails_pending(self) -> bool:
        return self._thumb_worker is not None or bool(self._thumb_queue)

    # -- scanning ---------------------------------------------------------------------------

    def open_paths(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        recent: Sequence[str | os.PathLike[str]] | None = None,
    ) -> None:
        """Scan files and folders (queued behind a running scan); ``recent`` is what File >
        Recent remembers (``paths`` by default)."""
        clean = [os.path.abspath(str(p)) for p in paths]
        if not clean:
            return
        for path in reversed(clean if recent is None else [str(p) for p in recent]):
            self.prefs.add_recent(path)
        self.opening.emit([str(p) for p in (recent or clean)])
        if self._scan_worker is not None:
            self._pending.append(clean)
            return
        self._start(clean)

    def _start(self, paths: list[str]) -> None:
        self._scan_cancel = threading.Event()
        self._scan_worker = start_worker(
            scan_batches,
            paths,
            self._scan_cancel,
            decode_first=self.state.current is None,
            connect={
                "yielded": self._on_yielded,
                "errored": self._on_errored,
                "finished": self._on_worker_finished,
            },
        )
        names = ", ".join(Path(p).name or p for p in paths[:3]) + (" ..." if len(paths) > 3 else "")
        self.started.emit(f"Scanning {names}")

    def cancel(self) -> None:
        """Stop the running scan (images found so far stay open) and drop queued scans."""
        self._pending.clear()
        if self._scan_worker is not None:
            self._scan_cancel.set()
            self._scan_worker.quit()
            self.message.emit("Scan cancelled; images found so far stay open", 5000)

    def _on_yielded(self, batch: ScanBatch) -> None:
        if self._closing:
            return
        if batch.total:
            self.progress.emit(batch.done, batch.total)
        if batch.first_image is not None:
            self.cache.put(batch.first_image)
        if batch.items:
            self.state.add_scan_items(batch.items)

    def _on_errored(self, exc: Exception) -> None:
        logger.error("scan failed: %s", exc)
        if not self._closing:
            self.failed.emit(str(exc))

    def _on_worker_finished(self) -> None:
        self._scan_worker = None
        if self._closing:
            return
        if self._pending:
            self._start(self._pending.pop(0))
            return
        self.finished.emit()

    # -- thumbnails -------------------------------------------------------------------------

    def add_thumbnails(self, instances: Sequence[Instance]) -> None:
        self._thumb_queue.extend(i.path for i in instances)
        self._ensure_thumbnail_worker()

    def clear_thumbnails(self) -> None:
        self._thumb_queue.clear()

    def _ensure_thumbnail_worker(self) -> None:
        if self._thumb_worker is not None or not self._thumb_queue or self._closing:
            return
        self._thumb_worker = start_worker(
            thumbnails,
            self._thumb_queue,
            foreground=self.foreground,
            connect={
                "yielded": self._on_thumbnail_yielded,
                "finished": self._on_thumbnail_worker_finished,
            },
        )

    def _on_thumbnail_yielded(self, result: tuple[str, np.ndarray | None, str]) -> None:
        if self._closing:
            return
        path, pixels, error = result
        if pixels is None:
            self.browser.set_thumbnail_failed(path, error)
            self.state.add_problems([Problem(path, error)], once_per_path=True)
            return
        icon = QtGui.QIcon(QtGui.QPixmap.fromImage(array_to_qimage(pixels)))
        self.browser.set_thumbnail(path, icon)

    def _on_thumbnail_worker_finished(self) -> None:
        self._thumb_worker = None
        if self._closing:
            return
        if self._thumb_queue:
            self._ensure_thumbnail_worker()
        else:
            self.thumbnails_finished.emit()

    # -- shutdown ---------------------------------------------------------------------------

    def shutdown(self) -> list[WorkerBase]:
        """Window closing: stop everything; returns the workers still running (to await)."""
        self._closing = True
        self._pending.clear()
        self._scan_cancel.set()
        self._thumb_queue.clear()
        workers = [w for w in (self._scan_worker, self._thumb_worker) if w is not None]
        for worker in workers:
            worker.quit()
        return workers
