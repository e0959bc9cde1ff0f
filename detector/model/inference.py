"""The :class:`Detector`: load a checkpoint once, run it on display images or DICOM files.

One streaming engine, :meth:`Detector.iter_detect`, serves the ``detect`` command and the
viewer's worker thread: it yields one ``(index, DetectionResult)`` per image as soon as it is
done, checks a cancel callback between batches, reports progress (images/s) per image, decodes
in DataLoader workers while the model runs, and reports unreadable files in the results instead
of raising. :meth:`Detector.predict` (a list) and :meth:`Detector.predict_steps` (one image,
stage by stage) are thin layers over the same batch step. No global state.

Device: ``"auto"`` picks CUDA, then Apple MPS, then CPU. On CUDA the model runs in
``channels_last`` under autocast (bfloat16 where the GPU supports it, else float16); a CUDA
out-of-memory error re-runs that batch on a CPU copy of the model with a logged warning.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from detector.files.identity import patient_id_for
from detector.imaging.decode import DicomImage
from detector.imaging.read import DicomReadError
from detector.model.build import build_model
from detector.model.checkpoint import (
    DEFAULT_INPUT_SIZE,
    DEFAULT_THRESHOLD,
    complete_meta,
    load_model,
)
from detector.model.gating import Gate
from detector.model.postprocess import output_to_result
from detector.model.preprocess import gray_to_tensor, model_gray, prepare_gray
from detector.model.tta import TTA_CHOICES, merge_hflip
from detector.types import Detection, DetectionResult

logger = logging.getLogger(__name__)

ImageInput = DicomImage | np.ndarray | str | os.PathLike[str]
ProgressCallback = Callable[[int, int], None]
CancelCallback = Callable[[], bool]


def image_id_for(path: str | os.PathLike[str]) -> str:
    """RSNA ``patientId`` of a file (kept name; :func:`detector.files.identity.patient_id_for`)."""
    return patient_id_for(path)


def resolve_device(request: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA, else MPS, else CPU; anything else is checked and returned.

    Raises
    ------
    ValueError
        A device that is not available here (e.g. ``"cuda"`` on a machine without a GPU).
    """
    if isinstance(request, torch.device):
        return request
    name = str(request).strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {request!r} (use auto, cpu, cuda or mps)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA GPU is available")
    if device.type == "cuda" and device.index is not None:
        if device.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {name!r} requested but there are only "
                f"{torch.cuda.device_count()} CUDA device(s)"
            )
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError("device 'mps' requested but Apple MPS is not available")
    return device


@dataclass
class PreparedImage:
    """An image ready for the model (made in a DataLoader worker or the calling thread).

    ``gray`` is uint8 ``(h, w)`` at the model input size; ``error`` is set instead when the
    source could not be read.
    """

    image_id: str
    gray: np.ndarray | None
    scale: float
    image_size: tuple[int, int]
    source: str = ""
    error: str | None = None


def prepare_source(
    source: ImageInput,
    image_id: str,
    *,
    input_size: int,
    equalize: str = "none",
    frame: int = 0,
) -> PreparedImage:
    """Read/prepare one image; never raises for bad input (the reason goes to ``error``).

    A :class:`~detector.imaging.decode.DicomImage` (the viewer's) or a path goes through
    :func:`detector.model.preprocess.model_gray`, the one model input, so the window and the command
    line feed the model the same pixels. An array is taken as a plain grey/RGB picture (its
    equalization is applied to it as it is; never pass a rendered, inverted DICOM).
    """
    if isinstance(source, DicomImage):
        label = source.path
    elif isinstance(source, np.ndarray):
        label = image_id
    else:
        label = os.fspath(source)
    try:
        if isinstance(source, np.ndarray):
            gray, scale = prepare_gray(source, input_size=input_size, equalize=equalize)
            size = (int(source.shape[0]), int(source.shape[1]))
        else:
            gray, scale, size = model_gray(
                source, input_size=input_size, equalize=equalize, frame=frame
            )
    except DicomReadError as err:
        return PreparedImage(image_id, None, 1.0, (0, 0), label, err.reason)
    except (ValueError, TypeError) as err:
        return PreparedImage(image_id, None, 1.0, (0, 0), label, str(err))
    except MemoryError:
        return PreparedImage(image_id, None, 1.0, (0, 0), label, "out of memory decoding it")
    except Exception as err:  # noqa: BLE001 - one bad file never stops a batch
        return PreparedImage(image_id, None, 1.0, (0, 0), label, f"{type(err).__name__}: {err}")
    return PreparedImage(image_id, gray, scale, size, label)


@dataclass(frozen=True)
class RunProgress:
    """Where a streaming run stands: ``done`` of ``total`` images after ``seconds``."""

    done: int
    total: int
    seconds: float

    @property
    def images_per_s(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0


class SourceDataset:
    """Map-style dataset: index -> ``(index, PreparedImage)``; never raises for bad input.

    Runs in DataLoader worker processes, so it holds only paths/arrays and plain settings.
    """

    def __init__(
        self,
        sources: Sequence[ImageInput],
        ids: Sequence[str],
        *,
        input_size: int,
        equalize: str,
        frame: int = 0,
    ) -> None:
        self.sources = list(sources)
        self.ids = list(ids)
        self.input_size = input_size
        self.equalize = equalize
        self.frame = frame

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int) -> tuple[int, PreparedImage]:
        item = prepare_source(
            self.sources[index],
            self.ids[index],
            input_size=self.input_size,
            equalize=self.equalize,
            frame=self.frame,
        )
        return index, item


def _collate(batch: list[tuple[int, PreparedImage]]) -> list[tuple[int, PreparedImage]]:
    return batch


class Detector:
    """A lung-opacity detector loaded once and run on batches of images.

    Parameters
    ----------
    checkpoint : path, optional
        A file written by :func:`detector.model.checkpoint.save_checkpoint`; loaded lazily.
    model, meta : optional
        An already built model (e.g. a tiny test model or the model being trained) and its
        checkpoint-style metadata (input size, equalize, threshold...); defaults fill the rest.
    device : str
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.
    batch_size : int
        Images per forward pass.
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike[str] | None = None,
        *,
        model: nn.Module | None = None,
        meta: dict[str, Any] | None = None,
        device: str | torch.device = "auto",
        batch_size: int = 4,
        tta: str | None = None,
    ) -> None:
        if checkpoint is None and model is None:
            raise ValueError("Detector needs a checkpoint path or a model")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, not {batch_size}")
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.batch_size = int(batch_size)
        if tta is not None and tta not in TTA_CHOICES:
            raise ValueError(f"tta must be one of {', '.join(TTA_CHOICES)}, not {tta!r}")
        self._tta_request = tta
        self._device_request = device
        self._device: torch.device | None = None
        self._model = model
        self._meta: dict[str, Any] | None = None
        if model is not None:
            given = dict(meta or {})
            transform = getattr(model, "transform", None)
            if "input_size" not in given and transform is not None:
                given["input_size"] = int(getattr(transform, "max_size", DEFAULT_INPUT_SIZE))
            self._meta = complete_meta(given)
        self._loaded = False
        self._lock = threading.Lock()
        self._cpu_model: nn.Module | None = None
        self._amp_dtype: torch.dtype | None = None

    # -- loading -------------------------------------------------------------------------

    def load(self) -> Detector:
        """Load the checkpoint and move the model to its device (once; later calls return).

        Raises
        ------
        detector.model.checkpoint.CheckpointError
            The checkpoint cannot be used.
        ValueError
            The requested device is not available.
        """
        with self._lock:
            if self._loaded:
                return self
            device = resolve_device(self._device_request)
            if self._model is None:
                assert self.checkpoint is not None
                model, meta = load_model(self.checkpoint, device="cpu")
                self._model, self._meta = model, meta
            model = self._model
            assert model is not None
            model.eval()
            model.to(device)
            if device.type == "cuda":
                model.to(memory_format=torch.channels_last)
                self._amp_dtype = (
                    torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
                )
            self._device = device
            self._loaded = True
            logger.info(
                "detector %s/%s on %s%s",
                self.meta.get("arch"),
                self.meta.get("backbone"),
                device,
                f" ({self._amp_dtype})" if self._amp_dtype else "",
            )
            return self

    @property
    def device(self) -> torch.device:
        """The device the model runs on (resolved on first use)."""
        if self._device is None:
            return resolve_device(self._device_request)
        return self._device

    @property
    def meta(self) -> dict[str, Any]:
        """Checkpoint metadata (loads the checkpoint if needed)."""
        if self._meta is None:
            self.load()
        assert self._meta is not None
        return self._meta

    @property
    def threshold(self) -> float:
        """Default score threshold: the checkpoint's ``threshold`` (0.5 if absent)."""
        return float(self.meta.get("threshold", DEFAULT_THRESHOLD))

    @property
    def gate(self) -> Gate:
        """The checkpoint's image-level gate (its ``threshold``, ``image_threshold``,
        ``max_boxes``); see :mod:`detector.model.gating`."""
        return Gate.from_meta(self.meta, DEFAULT_THRESHOLD)

    @property
    def tta(self) -> str:
        """Test-time augmentation: the constructor's choice, else the checkpoint's ``tta``."""
        if self._tta_request is not None:
            return self._tta_request
        value = str(self.meta.get("tta", "none"))
        return value if value in TTA_CHOICES else "none"

    @property
    def input_size(self) -> int:
        return int(self.meta.get("input_size", DEFAULT_INPUT_SIZE))

    @property
    def equalize(self) -> str:
        return str(self.meta.get("equalize", "none"))

    @property
    def model(self) -> nn.Module:
        self.load()
        assert self._model is not None
        return self._model

    # -- running -------------------------------------------------------------------------

    def _autocast(self, device: torch.device) -> contextlib.AbstractContextManager[Any]:
        if device.type == "cuda" and self._amp_dtype is not None:
            return torch.autocast("cuda", dtype=self._amp_dtype)
        return contextlib.nullcontext()

    def _forward(
        self, model: nn.Module, grays: Sequence[np.ndarray], device: torch.device
    ) -> list[dict[str, torch.Tensor]]:
        with torch.inference_mode(), self._autocast(device):
            images = [
                gray_to_tensor(torch.from_numpy(np.ascontiguousarray(g)), device) for g in grays
            ]
            outputs = model(images)
        return [{k: v.detach().float().cpu() for k, v in out.items()} for out in outputs]

    def _cpu_fallback(self) -> nn.Module:
        if self._cpu_model is None:
            meta = self.meta
            model = self.model
            state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
            try:
                cpu = build_model(
                    meta["arch"],
                    backbone=meta["backbone"],
                    num_classes=meta["num_classes"],
                    min_size=meta["input_size"],
                )
                cpu.load_state_dict(state, strict=True)
            except (KeyError, RuntimeError, ValueError):
                cpu = copy.deepcopy(model).to("cpu")
            self._cpu_model = cpu.float().eval()
        return self._cpu_model

    def run_model(self, grays: Sequence[np.ndarray]) -> list[dict[str, torch.Tensor]]:
        """Raw torchvision outputs (float32, on CPU) for prepared uint8 grey inputs.

        A CUDA out-of-memory error re-runs the batch on CPU with a warning.
        """
        if self.tta == "hflip":
            flipped = [np.ascontiguousarray(g[:, ::-1]) for g in grays]
            return merge_hflip(
                self._run_views(grays), self._run_views(flipped), [g.shape[1] for g in grays]
            )
        return self._run_views(grays)

    def _run_views(self, grays: Sequence[np.ndarray]) -> list[dict[str, torch.Tensor]]:
        model = self.model
        device = self.device
        try:
            return self._forward(model, grays, device)
        except torch.cuda.OutOfMemoryError:
            logger.warning(
                "GPU out of memory on a batch of %d image(s); running that batch on the CPU",
                len(grays),
            )
            torch.cuda.empty_cache()
            return self._forward(self._cpu_fallback(), grays, torch.device("cpu"))

    def finish(
        self, output: dict[str, torch.Tensor], item: PreparedImage, threshold: float | None
    ) -> DetectionResult:
        """Raw output -> result: the checkpoint's gate, or a plain ``threshold`` if given."""
        gate = self.gate if threshold is None else Gate(float(threshold))
        result = output_to_result(
            output,
            image_id=item.image_id,
            scale=item.scale,
            image_size=item.image_size,
            threshold=gate.box_threshold,
        )
        result.detections = gate.select(result.detections, _score)
        return result

    def predict_prepared(
        self, batch: Sequence[PreparedImage], *, threshold: float | None = None
    ) -> list[DetectionResult]:
        """Run one batch of prepared images (failed ones pass through as error results)."""
        good = [p for p in batch if p.error is None and p.gray is not None]
        outputs = (
            iter(self.run_model([p.gray for p in good if p.gray is not None])) if good else iter(())
        )
        results = []
        for item in batch:
            if item.error is not None or item.gray is None:
                results.append(
                    DetectionResult(item.image_id, [], (0, 0), item.error or "not prepared")
                )
                continue
            results.append(self.finish(next(outputs), item, threshold))
        return results

    def iter_detect(
        self,
        sources: Sequence[ImageInput],
        *,
        image_ids: Sequence[str] | None = None,
        threshold: float | None = None,
        frame: int = 0,
        workers: int = 0,
        indices: Sequence[int] | None = None,
        cancelled: CancelCallback | None = None,
        progress: Callable[[RunProgress], None] | None = None,
    ) -> Iterator[tuple[int, DetectionResult]]:
        """The streaming engine: one ``(index, DetectionResult)`` per image as it finishes.

        Used by ``pneumoview detect`` and by the viewer's worker thread alike. Images are read
        and prepared by ``workers`` DataLoader processes (0: in the calling thread) while the
        model runs on the previous batch.

        Parameters
        ----------
        sources : sequence of DicomImage, path or ndarray
            Decoded frames (the viewer's) or files, through the one model input
            (:func:`detector.model.preprocess.model_gray`); an array is a plain uint8 picture.
        image_ids : sequence of str, optional
            One per source; default :func:`image_id_for` for paths, the index for arrays.
        threshold : float, optional
            Keep detections with ``score >= threshold``; default :attr:`threshold`.
        frame : int
            Frame of multi-frame files.
        workers : int
            Decoding processes (used only when every source is a path).
        indices : sequence of int, optional
            Which sources to run, in this order (a shard under ``torchrun``, the images a
            resumed run still has to do); default all.
        cancelled : callable, optional
            Checked before each batch; when it returns True the generator stops.
        progress : callable, optional
            ``progress(RunProgress)`` after each image (done, total, images/s).

        Yields
        ------
        (int, DetectionResult)
            The source's index and its result. An unreadable image gives a result with
            ``error`` set (nothing is raised for bad input); model errors raise.
        """
        if image_ids is not None and len(image_ids) != len(sources):
            raise ValueError(f"{len(image_ids)} image_ids for {len(sources)} images")
        ids = (
            list(image_ids)
            if image_ids is not None
            else [
                str(i)
                if isinstance(src, np.ndarray)
                else image_id_for(src.path if isinstance(src, DicomImage) else src)
                for i, src in enumerate(sources)
            ]
        )
        order = list(range(len(sources))) if indices is None else list(indices)
        self.load()
        dataset = SourceDataset(
            sources, ids, input_size=self.input_size, equalize=self.equalize, frame=frame
        )
        paths_only = not any(isinstance(src, np.ndarray | DicomImage) for src in sources)
        procs = max(0, int(workers)) if paths_only and len(order) > 1 else 0
        loader: Any = DataLoader(
            dataset,  # type: ignore[arg-type]
            batch_size=self.batch_size,
            sampler=order,
            shuffle=False,
            num_workers=procs,
            collate_fn=_collate,
            prefetch_factor=4 if procs else None,
        )
        total = len(order)
        done = 0
        start = time.perf_counter()
        batches = iter(loader)
        try:
            while True:
                if cancelled is not None and cancelled():
                    logger.info("detection cancelled after %d of %d image(s)", done, total)
                    return
                try:
                    batch = next(batches)
                except StopIteration:
                    return
                results = self.predict_prepared([item for _i, item in batch], threshold=threshold)
                for (index, _item), result in zip(batch, results, strict=True):
                    done += 1
                    if progress is not None:
                        progress(RunProgress(done, total, time.perf_counter() - start))
                    yield index, result
        finally:
            # Stop the decoding processes now (a cancelled or abandoned run), not at exit.
            del batches

    def predict(
        self,
        images: Sequence[ImageInput],
        *,
        image_ids: Sequence[str] | None = None,
        threshold: float | None = None,
        progress: ProgressCallback | None = None,
        cancelled: CancelCallback | None = None,
    ) -> list[DetectionResult]:
        """Detect lung opacities in display images and/or image files (all in memory).

        A list-returning wrapper over :meth:`iter_detect` (same parameters).

        Parameters
        ----------
        images : sequence of DicomImage, path or ndarray
            Decoded frames (the viewer's) or files: the one model input
            (:func:`detector.model.preprocess.model_gray`). An array is a plain uint8 grey/RGB
            picture, equalized as it is.
        image_ids : sequence of str, optional
            One per image; default: the patientId (:func:`detector.files.identity.patient_id_for`)
            for files and DicomImages, the index for arrays.
        threshold : float, optional
            Keep detections with ``score >= threshold``; default :attr:`threshold`.
        progress : callable, optional
            ``progress(done, total)`` after each image.
        cancelled : callable, optional
            Checked between batches; when it returns True the results so far are returned.

        Returns
        -------
        list of DetectionResult
            In input order; an unreadable image gives a result with ``error`` set and no
            detections (nothing is raised for bad input).
        """
        report = None if progress is None else (lambda p: progress(p.done, p.total))
        return [
            result
            for _index, result in self.iter_detect(
                images,
                image_ids=image_ids,
                threshold=threshold,
                cancelled=cancelled,
                progress=report,
            )
        ]

    def predict_steps(
        self,
        display: DicomImage | np.ndarray,
        request_id: object,
        *,
        threshold: float | None = None,
    ) -> Generator[str, None, DetectionResult]:
        """One image, step by step, for a GUI generator worker.

        Pass the viewer's :class:`~detector.imaging.decode.DicomImage` (not its rendered pixels): the
        model then sees exactly what ``pneumoview detect`` feeds it for that file.

        Yields the stage names ``"loading model"`` (first call only), ``"preparing"``,
        ``"running model"``, ``"post-processing"``; returns the :class:`DetectionResult`
        (``image_id = str(request_id)``). Errors in the model raise (the worker's ``errored``);
        a bad array gives a result with ``error`` set.
        """
        if not self._loaded:
            yield "loading model"
            self.load()
        yield "preparing"
        item = prepare_source(
            display, str(request_id), input_size=self.input_size, equalize=self.equalize
        )
        if item.error is not None or item.gray is None:
            return DetectionResult(str(request_id), [], (0, 0), item.error)
        yield "running model"
        output = self.run_model([item.gray])[0]
        yield "post-processing"
        return self.finish(output, item, threshold)


def _score(detection: Detection) -> float:
    return detection.score
