"""The detection job: a plain generator that a superqt ``thread_worker`` runs (no widgets).

One :class:`detector.model.inference.Detector` (the loaded model) is owned by the
:class:`viewer.detection.controller.DetectionController` and used by one such worker at a time;
the worker drains a queue of :class:`DetectionJob`s that the GUI may append to while it runs,
and yields one event per step so that results stream in image by image:

- :class:`ModelReady` once the checkpoint is loaded (name, metadata, device);
- :class:`JobDone` per image, with its :class:`detector.types.DetectionResult` (a file that
  cannot be read comes back with ``result.error`` set, never as an exception);
- :class:`Notice` for things the reader must know (a GPU out of memory that moved the work to
  the CPU).

The model always gets what ``pneumoview detect`` gives it for the same file: the frame is
prepared by the detector's own input function with the default display (never the reader's
window, zoom or inversion). A job carries the frame the window has already decoded when the
pixel cache had it (a detached copy with read-only pixels, made on the GUI thread by
:meth:`viewer.loading.pixel_cache.PixelCache.detached`), so the file is not decoded again;
otherwise the file is read. The gate is the detector's own (:meth:`detector.model.inference.
Detector.finish`). torch is imported only inside the worker thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from detector.types import DetectionResult

if TYPE_CHECKING:
    from detector.imaging.decode import DicomImage

logger = logging.getLogger(__name__)

#: Predictions below this score are not kept at all (the threshold slider starts here).
SCORE_FLOOR = 0.05


@dataclass(frozen=True)
class DetectionJob:
    """One image to run the model on: ``key`` identifies it in the review (UID + frame).

    ``image`` is the decoded frame of ``path`` when the window had it cached: a detached copy
    (:meth:`viewer.loading.pixel_cache.PixelCache.detached`) that only the worker reads; the
    file is decoded when it is ``None``.
    """

    key: str
    path: str
    frame: int = 0
    image: DicomImage | None = field(default=None, compare=False, repr=False)


@dataclass
class ModelReady:
    """The model is loaded: ``meta`` is the checkpoint metadata, ``device`` a readable name."""

    meta: dict[str, Any]
    device: str


@dataclass
class JobDone:
    """One image finished: ``seconds`` is the time it took (decode or cached frame, then model)."""

    job: DetectionJob
    result: DetectionResult
    seconds: float


@dataclass
class Notice:
    """A one-line message for the status bar (e.g. the GPU fallback)."""

    text: str


@dataclass
class RunStats:
    """Counters of one worker run (read by the GUI after ``finished``)."""

    done: int = 0
    failed: int = 0
    seconds: float = 0.0
    notices: list[str] = field(default_factory=list)


class DetectionFailed(Exception):
    """Loading or running the model failed; ``str()`` is one line for the reader.

    (superqt does not report a ``RuntimeError`` raised in a worker through ``errored``, and
    torch raises mostly those, so every failure is wrapped in this.)
    """


def error_text(exc: BaseException) -> str:
    """One line for the reader: a file or usage error as written, else the exception type."""
    from detector.errors import PneumoViewError

    if isinstance(exc, PneumoViewError | ValueError | DetectionFailed):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def device_name(device: Any) -> str:
    """``"GPU: NVIDIA H100 (cuda:0)"`` or ``"CPU"`` for a torch device."""
    kind = getattr(device, "type", str(device))
    if kind == "cuda":
        import torch

        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"GPU: {torch.cuda.get_device_name(index)} (cuda:{index})"
    if kind == "mps":
        return "GPU: Apple MPS"
    return "CPU"


def _fell_back_to_cpu(detector: Any) -> bool:
    """True once the detector has re-run a batch on its CPU copy after a GPU out-of-memory."""
    return getattr(detector, "_cpu_model", None) is not None


def run_detection(
    detector: Any,
    jobs: deque[DetectionJob],
    cancel: threading.Event,
    stats: RunStats | None = None,
) -> Generator[ModelReady | JobDone | Notice, None, RunStats]:
    """Load ``detector`` (once) and run it on every job in ``jobs`` until empty or cancelled.

    The GUI may append to ``jobs`` while this runs. ``cancel`` is checked before every image;
    the model itself is not interrupted mid-image. Errors loading the checkpoint or running the
    model raise :class:`DetectionFailed` (the worker's ``errored`` shows them in the window).
    """
    from detector.model.sources import prepare_source

    stats = stats if stats is not None else RunStats()
    if cancel.is_set():
        return stats
    _leave_a_core_for_the_window()
    try:
        detector.load()
        ready = ModelReady(dict(detector.meta), device_name(detector.device))
    except Exception as exc:  # noqa: BLE001 - reported in the window, never a crash
        raise DetectionFailed(error_text(exc)) from exc
    yield ready
    fell_back = _fell_back_to_cpu(detector)
    while not cancel.is_set():
        try:
            job = jobs.popleft()
        except IndexError:
            break
        start = time.perf_counter()
        prepared = prepare_source(
            job.image if job.image is not None else job.path,
            job.key,
            input_size=detector.input_size,
            equalize=detector.equalize,
            frame=job.frame,
        )
        try:
            # The checkpoint's image gate and box cap, as `detect` applies them; the box
            # threshold stays with the slider (predictions down to SCORE_FLOOR are kept).
            result = detector.predict_prepared([prepared], floor=SCORE_FLOOR)[0]
        except Exception as exc:  # noqa: BLE001 - reported in the window, never a crash
            raise DetectionFailed(error_text(exc)) from exc
        seconds = time.perf_counter() - start
        stats.done += 1
        stats.failed += 0 if result.ok else 1
        stats.seconds += seconds
        if not fell_back and _fell_back_to_cpu(detector):
            fell_back = True
            text = "GPU out of memory: the detector now runs that work on the CPU (slower)"
            stats.notices.append(text)
            yield Notice(text)
        yield JobDone(job, result, seconds)
    return stats


def _leave_a_core_for_the_window() -> None:
    """Run the model's CPU kernels on all cores but one, so the GUI thread keeps one and the
    window stays responsive while the detector runs (it is the only torch user in the viewer);
    an explicit ``OMP_NUM_THREADS`` wins."""
    import os

    import torch

    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
