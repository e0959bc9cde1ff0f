"""The torch ``Dataset`` of training images: records -> model-size pixels and boxes.

:class:`DetectionDataset` turns :class:`~detector.training.records.ImageRecord` s into
``(image, target)`` samples for torchvision detection models (optionally decoding every image
into memory first); :func:`collate` keeps batches as lists. Pixels go through the one model
input, :func:`detector.model.preprocess.model_gray` (the same function ``detect`` and the
viewer use).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from detector.files.image_files import (
    DatasetError,
)
from detector.imaging.read import DicomReadError
from detector.model.preprocess import model_gray
from detector.training.records import ImageRecord
from detector.training.transforms import make_sample

logger = logging.getLogger(__name__)


def load_gray(path: str, *, input_size: int, equalize: str = "none") -> tuple[np.ndarray, float]:
    """:func:`detector.model.preprocess.model_gray` without the size (the one model input).

    Returns
    -------
    gray : ndarray
        uint8 ``(h, w)`` with ``max(h, w) == input_size``.
    scale : float
        Model pixels per original pixel.

    Raises
    ------
    DicomReadError
        The file cannot be read.
    """
    gray, scale, _size = model_gray(path, input_size=input_size, equalize=equalize)
    return gray, scale


def _load_gray_job(job: tuple[str, int, str]) -> np.ndarray | str:
    path, size, equalize = job
    try:
        return load_gray(path, input_size=size, equalize=equalize)[0]
    except DicomReadError as err:
        return err.reason
    except Exception as exc:  # noqa: BLE001 - reported per file
        return f"{type(exc).__name__}: {exc}"


class DetectionDataset(Dataset[tuple[torch.Tensor, dict[str, Any]]]):
    """Images and boxes for torchvision detection models.

    ``dataset[i]`` is ``(image, target)``: ``image`` float32 ``[1, h, w]`` in [0, 1] at the model
    input size (one grey channel; :func:`detector.training.engine.to_model_images` expands it), and
    ``target`` with ``boxes`` float32 ``[N, 4]`` XYXY in model-input pixels, ``labels`` int64
    ``[N]`` (1 = Lung Opacity) and ``index`` (position in :attr:`records`).

    Parameters
    ----------
    records : sequence of ImageRecord
    input_size : int
    equalize : {"none", "hist", "clahe"}
    transforms : callable, optional
        A :func:`detector.training.transforms.build_transforms` pipeline (``None``: no augmentation).
    """

    def __init__(
        self,
        records: Sequence[ImageRecord],
        *,
        input_size: int,
        equalize: str = "none",
        transforms: Callable[..., Any] | None = None,
    ) -> None:
        self.records = list(records)
        self.input_size = int(input_size)
        self.equalize = equalize
        if transforms is None:
            from detector.training.transforms import build_transforms

            transforms = build_transforms("none")
        self.transforms = transforms
        self._cache: list[np.ndarray | None] = [None] * len(self.records)
        self._warned: set[int] = set()

    def __len__(self) -> int:
        return len(self.records)

    def scale_of(self, index: int) -> float:
        rec = self.records[index]
        return self.input_size / max(rec.height, rec.width)

    def preload(self, workers: int = 1) -> list[str]:
        """Decode every image once into memory (uint8 at the input size).

        Returns
        -------
        list of str
            ``"<file>: <reason>"`` for images that could not be decoded; those are dropped
            from :attr:`records`.
        """
        jobs = [(r.path, self.input_size, self.equalize) for r in self.records]
        if workers > 1 and len(jobs) > 8:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                grays = list(pool.map(_load_gray_job, jobs, chunksize=8))
        else:
            grays = [_load_gray_job(j) for j in jobs]
        problems = []
        keep_records, keep_cache = [], []
        for rec, gray in zip(self.records, grays, strict=True):
            if isinstance(gray, str):
                problems.append(f"{rec.path}: {gray}")
                continue
            keep_records.append(rec)
            keep_cache.append(gray)
        self.records = keep_records
        self._cache = list(keep_cache)
        return problems

    @property
    def cached(self) -> bool:
        return bool(self._cache) and all(g is not None for g in self._cache)

    def cache_bytes(self) -> int:
        """Estimated memory of a full preload."""
        return len(self.records) * self.input_size * self.input_size

    def _gray(self, index: int) -> np.ndarray:
        cached = self._cache[index]
        if cached is not None:
            return cached
        return load_gray(
            self.records[index].path, input_size=self.input_size, equalize=self.equalize
        )[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        n = len(self.records)
        for attempt in range(n):
            i = (index + attempt) % n
            try:
                gray = self._gray(i)
            except DicomReadError as err:
                # One bad file never stops training: warn once, use the next image.
                if i not in self._warned:
                    self._warned.add(i)
                    logger.warning("%s: %s (skipped)", self.records[i].path, err.reason)
                continue
            return self._sample(i, gray)
        raise DatasetError(self.records[index].path, "no image of the dataset can be read")

    def _sample(self, index: int, gray: np.ndarray) -> tuple[torch.Tensor, dict[str, Any]]:
        scale = self.scale_of(index)
        boxes = torch.tensor(
            [
                (x * scale, y * scale, (x + w) * scale, (y + h) * scale)
                for x, y, w, h in self.records[index].boxes
            ],
            dtype=torch.float32,
        ).reshape(-1, 4)
        image, target = make_sample(torch.from_numpy(np.ascontiguousarray(gray)), boxes)
        image, target = self.transforms(image, target)
        target["index"] = index
        return image, target


def collate(batch: Sequence[tuple[torch.Tensor, dict[str, Any]]]) -> tuple[list, list]:
    """Detection batches stay lists (images may differ in size)."""
    images, targets = zip(*batch, strict=True) if batch else ((), ())
    return list(images), list(targets)
