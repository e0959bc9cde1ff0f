"""The :class:`Detector`: load a checkpoint once, run it on display images or DICOM files.

One streaming engine, :meth:`Detector.iter_detect`, serves the ``detect`` command: it yields
one ``(index, DetectionResult)`` per image as soon as it is done, checks a cancel callback
between batches, reports progress (images/s) per image, decodes in DataLoader workers while the
model runs, and reports unreadable files in the results instead of raising.
:meth:`Detector.predict` is a list-returning layer over it. The viewer's worker
(:func:`viewer.detection.worker.run_detection`) prepares one image at a time with
:func:`detector.model.sources.prepare_source` and runs it through the same batch step, :meth:`Detector.predict_prepared`.
Both end in :meth:`Detector.finish`, the one place a checkpoint's gate is applied. No global
state.

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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from detector.files.identity import patient_id_for
from detector.imaging.decode import DicomImage
from detector.model.build import build_model
from detector.model.checkpoint import (
    DEFAULT_INPUT_SIZE,
    DEFAULT_THRESHOLD,
    complete_meta,
    load_model,
)
from detector.model.gating import Gate
from detector.model.postprocess import output_to_result
from detector.model.preprocess import gray_to_tensor
from detector.model.sources import (
    ImageInput,
    PreparedImage,
    SourceDataset,
    collate_items,
)
from detector.model.tta import TTA_CHOICES, merge_hflip
from detector.types import Detection, DetectionResult

logger = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class RunProgress:
    """Where a streaming run stands: ``done`` of ``total`` images after ``seconds``."""

    done: int
    total: int
    seconds: float

    @property
    def images_per_s(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0


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
        # The checkpoint's value was checked on load (load_checkpoint / complete_meta).
        return str(self.meta.get("tta") or "none")

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
        self,
        output: dict[str, torch.Tensor],
        item: PreparedImage,
        threshold: float | None = None,
        *,
        floor: float | None = None,
    ) -> DetectionResult:
        """Raw output -> result through the checkpoint's gate: the one place a gate is applied.

        Parameters
        ----------
        output : dict of str to Tensor
            One torchvision output (``boxes``, ``scores``, ``labels``) in model-input pixels.
        item : PreparedImage
            The prepared image it came from (scale and original size).
        threshold : float, optional
            A plain per-box threshold instead of the checkpoint's gate (``detect --threshold``):
            no image threshold, no box cap.
        floor : float, optional
            Keep the checkpoint's image threshold and box cap, but every box scoring at least
            ``floor`` instead of the gate's box threshold (the viewer: its slider applies the
            box threshold afterwards).

        Raises
        ------
        ValueError
            Both ``threshold`` and ``floor`` given.
        """
        if threshold is not None and floor is not None:
            raise ValueError("give a threshold or a floor, not both")
        if threshold is not None:
            gate = Gate(float(threshold))
        elif floor is not None:
            gate = replace(self.gate, box_threshold=float(floor))
        else:
            gate = self.gate
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
        self,
        batch: Sequence[PreparedImage],
        *,
        threshold: float | None = None,
        floor: float | None = None,
    ) -> list[DetectionResult]:
        """Run one batch of prepared images (failed ones pass through as error results).

        ``threshold`` and ``floor`` go to :meth:`finish`.
        """
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
            results.append(self.finish(next(outputs), item, threshold, floor=floor))
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

        Used by ``pneumoview detect`` (and :meth:`predict`). Images are read and prepared by
        ``workers`` DataLoader processes (0: in the calling thread) while the model runs on the
        previous batch.

        Parameters
        ----------
        sources : sequence of DicomImage, path or ndarray
            Decoded frames (the viewer's) or files, through the one model input
            (:func:`detector.model.preprocess.model_gray`); an array is a plain uint8 picture.
        image_ids : sequence of str, optional
            One per source; default :func:`image_id_for` for paths, the index for arrays.
        threshold : float, optional
            Keep detections with ``score >= threshold`` (a plain threshold); default the
            checkpoint's gate (:attr:`gate`, see :meth:`finish`).
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
            collate_fn=collate_items,
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
            Keep detections with ``score >= threshold`` (a plain threshold); default the
            checkpoint's gate (:attr:`gate`, see :meth:`finish`).
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


def _score(detection: Detection) -> float:
    return detection.score
