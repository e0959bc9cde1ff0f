"""Decoding the image on screen: the frame requests, the prefetch of the next image, and the
move past an undecodable first image.

:class:`FrameLoader` answers :class:`viewer.state.ViewerState` requests for pixels from the
:class:`viewer.loading.pixel_cache.PixelCache` or a superqt worker
(:func:`viewer.platform.workers.load_frame`); the decoded frame goes to
:meth:`ViewerState.set_image` on the GUI thread. An image that does not decode is listed once in
the state's problems.
"""

from __future__ import annotations

import logging
import threading

from PySide6 import QtCore
from superqt.utils import WorkerBase

from detector.files.scan import Instance, Problem
from detector.imaging.decode import DicomImage
from detector.imaging.read import DicomReadError
from viewer.loading.pixel_cache import PixelCache
from viewer.loading.scan_controller import start_worker
from viewer.platform.workers import load_frame
from viewer.state import ViewerState

logger = logging.getLogger(__name__)


class FrameLoader(QtCore.QObject):
    """Decoded frames of the current image, and the next image decoded ahead.

    Parameters
    ----------
    state : ViewerState
        Asks for frames (current image, frame index) and receives them.
    cache : PixelCache
        Decoded frames kept for paging back and forth.

    Signals
    -------
    loading(str)
        A frame is being decoded (its status-bar line).
    settled()
        The status bar may show the scan summary again.
    failed(object, str)
        The image (Instance) on screen cannot be decoded, and why.
    """

    loading = QtCore.Signal(str)
    settled = QtCore.Signal()
    failed = QtCore.Signal(object, str)

    def __init__(
        self, state: ViewerState, cache: PixelCache, parent: QtCore.QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.cache = cache
        #: Set while the displayed image is decoding: thumbnails wait (see workers.thumbnails).
        self.foreground = threading.Event()
        self._closing = False
        self._load_request = 0
        self._loading: tuple[str, int] | None = None
        self._prefetch_worker: WorkerBase | None = None
        #: The image the viewer picked by itself (not the user) until one is painted: if it
        #: cannot be decoded, the viewer moves on to the next image it can display.
        self._auto_pick: Instance | None = None

    # -- requests ---------------------------------------------------------------------------

    def request(self, inst: Instance, frame: int) -> None:
        """Show frame ``frame`` of ``inst``: from the cache at once, else decoded in the background."""
        cached = self.cache.get(inst.path, frame)
        if cached is not None:
            self.foreground.set()
            self.state.set_image(cached)
            return
        self._load_request += 1
        request = self._load_request
        self._loading = (inst.path, frame)
        self.foreground.set()
        self.loading.emit(f"Loading {inst.name}...")
        start_worker(
            load_frame,
            inst.path,
            frame,
            connect={
                "returned": lambda image, r=request: self._on_load_returned(r, image),
                "errored": lambda exc, r=request, i=inst: self._on_load_errored(r, i, exc),
            },
        )

    def _on_load_returned(self, request: int, image: DicomImage) -> None:
        if self._closing:
            return
        self.cache.put(image)
        if request != self._load_request:
            return  # the reader moved on; the frame stays cached
        self._loading = None
        current = self.state.current
        if current is not None and current.path == image.path and self.state.frame == image.frame:
            self.state.set_image(image)
        # "Loading ..." gives way to the scan summary (empty while a scan runs).
        self.settled.emit()

    def _on_load_errored(self, request: int, inst: Instance, exc: Exception) -> None:
        if self._closing:
            return
        reason = exc.reason if isinstance(exc, DicomReadError) else f"{type(exc).__name__}: {exc}"
        if request == self._load_request:
            self._loading = None
            self.foreground.clear()
            self.failed.emit(inst, reason)
        self.state.add_problems([Problem(inst.path, reason)], once_per_path=True)
        if inst is self._auto_pick and inst is self.state.current:
            self._pick_displayable()

    # -- the first image --------------------------------------------------------------------

    def images_added(self) -> None:
        """Without an image on screen, the first one is picked (and decoded before any
        thumbnail); a picked image that failed gives way to a newly found one."""
        if self.state.current is None:
            self._auto_pick = self.state.go_to(0)
        elif self.state.current is self._auto_pick and self._auto_pick.path in self._failed():
            self._pick_displayable()

    def _failed(self) -> set[str]:
        """Paths listed in the Problems panel (their pixels cannot be shown)."""
        return {p.path for p in self.state.problems}

    def _pick_displayable(self) -> None:
        """Move from an undecodable first image to the first image not known to fail."""
        failed = self._failed()
        nxt = next((i for i in self.state.images() if i.path not in failed), None)
        if nxt is not None:
            self._auto_pick = nxt
            # The failure is in the Problems panel; "Loading ..." or the summary replaces it.
            self.settled.emit()
            self.state.set_current(nxt)

    def image_painted(self) -> None:
        """An image reached the screen: no more automatic picks; the next one is decoded ahead."""
        self._auto_pick = None
        QtCore.QTimer.singleShot(0, self._prefetch_next)

    def clear(self) -> None:
        """Everything was closed."""
        self._auto_pick = None

    # -- prefetch ---------------------------------------------------------------------------

    def _prefetch_next(self) -> None:
        """Decode the next image in the background so PageDown shows it at once."""
        if self._prefetch_worker is not None or self._closing:
            return
        images = self.state.images()
        i = self.state.index_of(self.state.current)
        if i < 0 or i + 1 >= len(images):
            return
        nxt = images[i + 1]
        if (nxt.path, 0) in self.cache:
            return
        # A failure here is reported when the reader reaches that image.
        self._prefetch_worker = start_worker(
            load_frame,
            nxt.path,
            0,
            connect={
                "returned": self._on_prefetch_returned,
                "errored": lambda exc: logger.debug("prefetch failed: %s", exc),
                "finished": self._on_prefetch_finished,
            },
        )

    def _on_prefetch_returned(self, image: DicomImage) -> None:
        if not self._closing:
            self.cache.put(image)

    def _on_prefetch_finished(self) -> None:
        self._prefetch_worker = None

    def shutdown(self) -> None:
        """Window closing: results still arriving are dropped; the prefetch is stopped."""
        self._closing = True
        self.foreground.clear()
        if self._prefetch_worker is not None:
            self._prefetch_worker.quit()
