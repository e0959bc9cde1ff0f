"""Images in, prepared model inputs out: the part of a run that happens before the model.

:func:`prepare_source` turns one source (the viewer's decoded
:class:`~detector.imaging.decode.DicomImage`, a file path or a plain uint8 array) into a
:class:`PreparedImage` through :func:`detector.model.preprocess.model_gray`, the one model
input, and never raises for bad input (the reason goes to ``error``). :class:`SourceDataset`
wraps it for the DataLoader workers of :meth:`detector.model.inference.Detector.iter_detect`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from detector.imaging.decode import DicomImage
from detector.imaging.read import DicomReadError
from detector.model.preprocess import model_gray, prepare_gray

#: What the detector takes: a decoded frame, a plain uint8 picture or an image file.
ImageInput = DicomImage | np.ndarray | str | os.PathLike[str]


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


def collate_items(batch: list[tuple[int, PreparedImage]]) -> list[tuple[int, PreparedImage]]:
    """DataLoader ``collate_fn`` that keeps a batch as its list of ``(index, item)``."""
    return batch
