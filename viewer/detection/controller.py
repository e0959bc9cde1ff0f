"""Runs the detector from the window: one model, one background worker, results per image.

:class:`DetectionController` owns the loaded :class:`detector.model.inference.Detector` and the queue
of images waiting for it. A superqt generator worker (:func:`viewer.detection.worker.
run_detection`) drains the queue off the GUI thread, so the window stays responsive; every
finished image comes back through ``result_ready(key, result)`` with the key of the image it was
run on (never "the current image"), so a result lands on its own image even when the reader has
moved on. Results are cached per image and model: running again on an image already done by the
same checkpoint returns the cached result at once. Given the window's
:class:`viewer.loading.pixel_cache.PixelCache`, a queued job carries a detached copy of the frame
when the window has it decoded, so the worker does not decode that file again.

torch is imported only by the worker (inside :mod:`detector.model.inference`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore
from superqt.utils import WorkerBase, create_worker

from detector.types import DetectionResult
from viewer.detection.worker import (
    DetectionJob,
    JobDone,
    ModelReady,
    Notice,
    error_text,
    run_detection,
)

if TYPE_CHECKING:
    from viewer.loading.pixel_cache import PixelCache

logger = logging.getLogger(__name__)


def model_id(path: str) -> str:
    """Identity of a checkpoint file for the result cache: path, size and modification time."""
    try:
        st = os.stat(path)
    except OSError:
        return os.path.abspath(path)
    return f"{os.path.abspath(path)}:{st.st_size}:{st.st_mtime_ns}"


class DetectionController(QtCore.QObject):
    """The loaded model, its run queue and the per-image result cache.

    Signals
    -------
    model_loading(str)
        A checkpoint (path) is being loaded.
    model_ready(object, str)
        The checkpoint's metadata (a dict, validated on load) and the device it runs on. The
        metadata is an ``object`` signal: a Python value never goes through a Qt type
        conversion (a ``dict`` signal turned an integer beyond 64 bits into a crash).
    result_ready(str, object)
        ``(image key, DetectionResult)``: one image finished (or came from the cache).
    progress(int, int, float)
        ``(done, total, images per second)`` of the current run.
    run_finished(bool)
        The queue is empty (``False``) or the run was cancelled (``True``).
    failed(str)
        Loading or running the model failed; one line for the reader.
    notice(str)
        Something the reader should know (e.g. the GPU fallback).
    threshold_changed(float)
        The confidence threshold changed.
    """

    model_loading = QtCore.Signal(str)
    model_ready = QtCore.Signal(object, str)
    result_ready = QtCore.Signal(str, object)
    progress = QtCore.Signal(int, int, float)
    run_finished = QtCore.Signal(bool)
    failed = QtCore.Signal(str)
    notice = QtCore.Signal(str)
    threshold_changed = QtCore.Signal(float)

    def __init__(
        self,
        parent: QtCore.QObject | None = None,
        *,
        device: str = "auto",
        pixel_cache: PixelCache | None = None,
    ) -> None:
        super().__init__(parent)
        self.device_request = device
        self.pixel_cache = pixel_cache
        self.detector: Any = None
        self.model_path = ""
        self.model_key = ""
        self.meta: dict[str, Any] | None = None
        self.device = ""
        self.threshold = 0.5
        self._cache: dict[tuple[str, str], DetectionResult] = {}
        self._jobs: deque[DetectionJob] = deque()
        self._cancel = threading.Event()
        self._worker: WorkerBase | None = None
        self._worker_detector: Any = None
        self._run_done = 0
        self._run_total = 0
        self._run_start = 0.0
        self._closing = False

    # -- model ------------------------------------------------------------------------------

    @property
    def has_model(self) -> bool:
        return self.detector is not None

    @property
    def busy(self) -> bool:
        return self._worker is not None

    def load_model(self, path: str) -> None:
        """Use the checkpoint at ``path`` (loaded in the background; ``model_ready`` follows).

        Cancels a run in progress. Nothing is raised: a bad file arrives as ``failed``.
        """
        from detector.model.inference import Detector

        self.cancel()
        path = os.path.abspath(path)
        self.detector = Detector(path, device=self.device_request, batch_size=1)
        self.model_path = path
        self.model_key = model_id(path)
        self.meta = None
        self.model_loading.emit(path)
        self._ensure_worker()

    def use_detector(self, detector: Any, name: str = "in-memory model") -> None:
        """Use an already built :class:`detector.model.inference.Detector` (tests, benchmarks)."""
        self.cancel()
        self.detector = detector
        self.model_path = name
        self.model_key = f"{name}:{id(detector)}"
        self.meta = None
        self.model_loading.emit(name)
        self._ensure_worker()

    # -- running ----------------------------------------------------------------------------

    def cached(self, key: str) -> DetectionResult | None:
        """The result for image ``key`` from the current model, if it ran already."""
        return self._cache.get((self.model_key, key))

    def run(self, jobs: Iterable[DetectionJob]) -> int:
        """Queue images; cached results are answered at once. Returns how many were queued.

        A queued job takes its frame from the pixel cache when the window has it decoded.
        """
        if self.detector is None:
            self.failed.emit("No model loaded: use Detection \u2192 Load model...")
            return 0
        queued = {j.key for j in self._jobs}
        added = 0
        for job in jobs:
            hit = self.cached(job.key)
            if hit is not None:
                self.result_ready.emit(job.key, hit)
                continue
            if job.key in queued:
                continue
            queued.add(job.key)
            self._jobs.append(self._with_cached_frame(job))
            added += 1
        if added:
            if self._worker is None or self._run_done >= self._run_total:
                self._run_done = 0
                self._run_total = 0
                self._run_start = time.perf_counter()
            self._run_total += added
            self.progress.emit(self._run_done, self._run_total, 0.0)
            self._ensure_worker()
        return added

    def _with_cached_frame(self, job: DetectionJob) -> DetectionJob:
        """``job`` with a detached copy of its frame when the pixel cache has it (GUI thread).

        The copy shares the cached pixels, so a queued job keeps them alive until it runs even
        if the cache evicts the frame meanwhile; only frames cached at queue time are attached.
        """
        if self.pixel_cache is None or job.image is not None:
            return job
        image = self.pixel_cache.detached(job.path, job.frame)
        return job if image is None else replace(job, image=image)

    def cancel(self) -> None:
        """Stop after the image in progress; queued images are dropped."""
        self._jobs.clear()
        self._run_done = self._run_total = 0
        if self._worker is not None:
            self._cancel.set()
            self._worker.quit()

    def set_threshold(self, value: float) -> None:
        value = min(max(float(value), 0.0), 1.0)
        if value != self.threshold:
            self.threshold = value
            self.threshold_changed.emit(value)

    def shutdown(self) -> None:
        """Window closing: stop the worker and let it finish."""
        self._closing = True
        self.cancel()

    # -- worker -----------------------------------------------------------------------------

    def _ensure_worker(self) -> None:
        if self._worker is not None or self._closing or self.detector is None:
            return
        self._cancel = threading.Event()
        detector = self.detector
        self._worker_detector = detector
        self._worker = create_worker(
            run_detection,
            detector,
            self._jobs,
            self._cancel,
            _connect={
                "yielded": lambda event, d=detector: self._on_yielded(d, event),
                "errored": lambda exc, d=detector: self._on_errored(d, exc),
                "finished": self._on_finished,
            },
            _start_thread=True,
        )

    def _on_yielded(self, detector: Any, event: object) -> None:
        if self._closing or detector is not self.detector:
            return  # a model replaced meanwhile: its late results are not this model's
        if isinstance(event, ModelReady):
            self.meta = event.meta
            self.device = event.device
            self.model_ready.emit(event.meta, event.device)
            self.set_threshold(float(event.meta.get("threshold", 0.5)))
        elif isinstance(event, JobDone):
            self._cache[(self.model_key, event.job.key)] = event.result
            self._run_done += 1
            self._run_total = max(self._run_total, self._run_done)
            elapsed = time.perf_counter() - self._run_start
            rate = self._run_done / elapsed if elapsed > 0 else 0.0
            self.progress.emit(self._run_done, self._run_total, rate)
            self.result_ready.emit(event.job.key, event.result)
        elif isinstance(event, Notice):
            self.notice.emit(event.text)

    def _on_errored(self, detector: Any, exc: BaseException) -> None:
        logger.debug("detection worker failed", exc_info=exc)
        self._jobs.clear()
        if self._closing:
            return
        text = error_text(exc)
        if detector is self.detector and self.meta is None:
            # The checkpoint never loaded: forget it, so the next run does not retry it blindly.
            self.detector = None
            logger.warning("%s", text)  # also in the terminal: "<file>: <reason>"
        self.failed.emit(text)

    def _on_finished(self) -> None:
        cancelled = self._cancel.is_set()
        self._worker = None
        if self._closing:
            return
        replaced = self.detector is not None and self.detector is not self._worker_detector
        self._worker_detector = None
        if self._jobs or replaced:
            # Queued (or a new model chosen) while this worker was winding down.
            self._ensure_worker()
            if not cancelled:
                return
        self.run_finished.emit(cancelled)
