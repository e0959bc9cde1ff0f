"""Decoding one frame: a file or dataset -> :class:`DicomImage`, ready to render.

:func:`load_image` reads the file (:mod:`detector.imaging.read`), decodes one frame (grey JPEG
Baseline with libjpeg-turbo, :mod:`detector.imaging.jpeg_baseline`; everything else with pydicom
and the pylibjpeg decoders; colour palettes applied), and keeps the header and the stored values
so that :mod:`detector.imaging.render` can re-window without decoding again. The viewer, the
detector and training all go through it, so the model sees exactly the pixels the reader sees.
A plain PNG/JPEG file is returned as the same type with ``is_dicom=False``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from detector.imaging.decode_errors import explain_decode_failure, short_reason
from detector.imaging.jpeg_baseline import Damaged, decode_grey_baseline, is_grey_baseline
from detector.imaging.limits import pixel_limit_reason
from detector.imaging.lut import Window, apply_modality, header_windows, lut_warnings
from detector.imaging.plain import PlainImageError, read_plain_image, sniff_format
from detector.imaging.read import (
    DicomReadError,
    check_file,
    drop_stray_item_tags,
    ensure_transfer_syntax,
    non_image_kind,
    number_of_frames,
    read_dataset,
)

logger = logging.getLogger(__name__)

_COLOR_PHOTOMETRICS = {
    "RGB",
    "YBR_FULL",
    "YBR_FULL_422",
    "YBR_PARTIAL_420",
    "YBR_ICT",
    "YBR_RCT",
    "PALETTE COLOR",
}


@dataclass
class DicomImage:
    """A decoded frame with everything needed to re-render it without decoding again.

    Plain PNG/JPEG images use the same type with ``is_dicom=False``: their header is a stand-in
    built from the file (Patient ID = file stem, size, bit depth) and they have no pixel spacing.

    Attributes
    ----------
    stored : ndarray
        The decoded frame: (rows, cols) for grey, (rows, cols, 3) uint8/uint16 RGB for colour.
    modality : ndarray
        float32 (rows, cols) modality values (Hounsfield units, etc.); the un-windowed array. For
        colour images, the RGB array itself.
    """

    path: str
    header: Dataset
    stored: np.ndarray
    frame: int
    n_frames: int
    photometric: str
    is_color: bool
    windows: list[Window]
    invert_default: bool
    warnings: list[str] = field(default_factory=list)
    #: False for a plain PNG/JPEG file: ``header`` is then a stand-in (no spacing, no UIDs).
    is_dicom: bool = True
    _modality: np.ndarray | None = field(default=None, repr=False)
    _lut_cache: dict[Any, np.ndarray] = field(default_factory=dict, repr=False)
    _stored_min: int = 0
    _stored_max: int = 0
    _auto_window: Window | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # The stored range sizes the composed LUT; every loader gets it here.
        if not self.is_color and self.stored.dtype.kind in "ui":
            self._stored_min = int(self.stored.min())
            self._stored_max = int(self.stored.max())

    @property
    def auto_window(self) -> Window:
        """Robust window from this frame's histogram (computed on first use, then cached)."""
        if self._auto_window is None:
            self._auto_window = (
                Window(0.0, 1.0, kind="auto", name="Auto") if self.is_color else _auto_window(self)
            )
        return self._auto_window

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.stored.shape[0]), int(self.stored.shape[1])

    @property
    def default_window(self) -> Window:
        return self.windows[0] if self.windows else self.auto_window

    @property
    def modality(self) -> np.ndarray:
        """float32 modality values (computed on first use, then cached)."""
        if self._modality is None:
            if self.is_color:
                self._modality = self.stored
            else:
                self._modality = apply_modality(self.stored, self.header)
        return self._modality

    def modality_value(self, row: int, col: int) -> float | tuple[float, ...]:
        """Modality value of one pixel without computing the whole modality array."""
        value = self.stored[row, col]
        if self.is_color:
            return tuple(float(v) for v in np.atleast_1d(value))
        return float(apply_modality(np.asarray([value]), self.header)[0])

    @property
    def modality_range(self) -> tuple[float, float]:
        """Minimum and maximum modality value of this frame."""
        if self.is_color:
            return 0.0, float(
                np.iinfo(self.stored.dtype).max
            ) if self.stored.dtype.kind in "ui" else 1.0
        if self.stored.dtype.kind in "ui":
            ends = apply_modality(np.array([self._stored_min, self._stored_max]), self.header)
            return float(ends.min()), float(ends.max())
        return float(np.nanmin(self.modality)), float(np.nanmax(self.modality))


def _auto_window(image: DicomImage) -> Window:
    """Robust window: the 0.5th..99.5th percentile of modality values in this frame."""
    stored = image.stored
    if stored.dtype.kind in "ui" and image._stored_max - image._stored_min < (1 << 20):
        # Histogram of a 2x2-subsampled frame: percentiles need no sort and no float copy.
        sample = stored[::2, ::2].ravel()
        if image._stored_min != 0:
            sample = sample.astype(np.int64) - image._stored_min
        cdf = np.cumsum(np.bincount(sample), dtype=np.int64)
        total = cdf[-1]
        lo_i = int(np.searchsorted(cdf, total * 0.005, side="left"))
        hi_i = int(np.searchsorted(cdf, total * 0.995, side="left"))
        ends = apply_modality(
            np.array([lo_i + image._stored_min, hi_i + image._stored_min]), image.header
        )
        lo, hi = float(ends.min()), float(ends.max())
    else:
        sample = image.modality[::4, ::4]
        lo, hi = (float(v) for v in np.nanpercentile(sample, [0.5, 99.5]))
    if hi <= lo:
        lo, hi = image.modality_range
    if hi <= lo:
        hi = lo + 1.0
    return Window((lo + hi) / 2.0, hi - lo, function="LINEAR_EXACT", name="Auto", kind="auto")


def full_range_window(image: DicomImage) -> Window:
    """LINEAR_EXACT window over the whole modality range of this frame (the "Full range" preset)."""
    lo, hi = image.modality_range
    if hi <= lo:
        hi = lo + 1.0
    return Window((lo + hi) / 2.0, hi - lo, function="LINEAR_EXACT", name="Full range", kind="auto")


def load_image(
    src: str | os.PathLike[str] | Dataset, frame: int = 0, *, path: str | None = None
) -> DicomImage:
    """Decode one frame and prepare it for rendering.

    Parameters
    ----------
    src : path or Dataset
        A file, or an already-read dataset (with pixel data).
    frame : int
        0-based frame index for multi-frame images.

    A plain PNG or JPEG file (recognised by content) is returned as the same
    :class:`DicomImage` type with ``is_dicom=False`` (see :mod:`detector.imaging.plain`).

    Raises
    ------
    DicomReadError
        With a one-line reason: damaged or truncated file, unsupported transfer syntax, no pixel
        data, corrupt compressed stream, frame out of range, or more pixel data declared than
        :func:`detector.imaging.limits.max_pixel_bytes` allows (checked before decoding).
    """
    if isinstance(src, Dataset):
        ds = src
        spath = path or str(getattr(src, "filename", "") or "<dataset>")
        drop_stray_item_tags(ds)
        ensure_transfer_syntax(ds)
    else:
        spath = str(src)
        check_file(spath)
        fmt = sniff_format(spath)
        if fmt is not None:
            return _load_plain(spath, fmt, frame)
        ds = read_dataset(spath)

    kind = non_image_kind(ds)
    if kind is not None:
        raise DicomReadError(spath, f"not an image ({kind}); header only")
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise DicomReadError(spath, "no pixel data in the file (header only)")
    n_frames = number_of_frames(ds)
    if not 0 <= frame < n_frames:
        raise DicomReadError(spath, f"frame {frame} out of range (the image has {n_frames})")
    # Checked before decoding: an RLE or JPEG decoder allocates what the header declares.
    too_large = pixel_limit_reason(ds)
    if too_large is not None:
        raise DicomReadError(spath, too_large)

    warn: list[str] = []
    stored = _decode_frame(ds, frame, n_frames, spath, warn)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    is_color = stored.ndim == 3
    if photometric == "PALETTE COLOR" and not is_color:
        from pydicom.pixels import apply_color_lut

        try:
            stored = apply_color_lut(stored, ds)
            is_color = True
        except Exception as exc:  # noqa: BLE001
            warn.append(f"palette could not be applied ({short_reason(exc)}); shown as grey")
    if photometric in _COLOR_PHOTOMETRICS and not is_color and photometric != "PALETTE COLOR":
        warn.append(f"{photometric} image decoded with one sample per pixel; shown as grey")

    header = _header_without_pixels(ds, warn)
    warn.extend(lut_warnings(header))
    image = DicomImage(
        path=spath,
        header=header,
        stored=stored,
        frame=frame,
        n_frames=n_frames,
        photometric=photometric,
        is_color=is_color,
        windows=[],
        invert_default=False,
        warnings=warn,
    )
    if is_color:
        return image
    image.windows = header_windows(header)
    shape = str(header.get("PresentationLUTShape", "")).strip().upper()
    image.invert_default = photometric == "MONOCHROME1" or shape == "INVERSE"
    return image


def _load_plain(path: str, fmt: str, frame: int) -> DicomImage:
    """A PNG/JPEG file as a :class:`DicomImage` (``is_dicom=False``)."""
    if frame != 0:
        raise DicomReadError(path, f"frame {frame} out of range (the image has 1)")
    try:
        header, stored = read_plain_image(path, fmt)
    except PlainImageError as exc:
        raise DicomReadError(path, exc.reason) from None
    is_color = stored.ndim == 3
    image = DicomImage(
        path=path,
        header=header,
        stored=stored,
        frame=0,
        n_frames=1,
        photometric=str(header.PhotometricInterpretation),
        is_color=is_color,
        windows=[],
        invert_default=False,
        is_dicom=False,
    )
    if is_color:
        return image
    if stored.dtype == np.uint8:
        # An 8-bit PNG/JPEG is already display pixels (a windowed export, NIH, CheXpert): shown
        # as stored, so detect sees the very pixels training read from `convert`'s PNGs.
        image.windows = [
            Window(127.5, 255.0, function="LINEAR_EXACT", name="As stored", kind="auto")
        ]
    return image


def _header_without_pixels(ds: Dataset, warn: list[str] | None = None) -> Dataset:
    """Copy of the header without pixel data; elements pydicom cannot convert are left out."""
    header = Dataset()
    for tag in list(ds.keys()):
        if tag in (0x7FE00010, 0x7FE00008, 0x7FE00009):
            continue
        try:
            header.add(ds[tag])
        except Exception as exc:  # noqa: BLE001 - one unreadable element must not hide the image
            if warn is not None:
                warn.append(f"element {tag} cannot be read and is ignored ({short_reason(exc)})")
    header.file_meta = ds.file_meta
    header.filename = getattr(ds, "filename", None)
    return header


def _decode_frame(ds: Dataset, frame: int, n_frames: int, path: str, warn: list[str]) -> np.ndarray:
    from pydicom.pixels import pixel_array

    damage: Damaged | None = None
    if is_grey_baseline(ds):
        fast = decode_grey_baseline(ds, frame, n_frames)
        if isinstance(fast, np.ndarray):
            return fast
        damage = fast
    tsyntax = ds.file_meta.get("TransferSyntaxUID")
    try:
        if n_frames == 1:
            arr = ds.pixel_array
        else:
            arr = pixel_array(ds, index=frame)
    except NotImplementedError as exc:
        logger.debug("%s: decoding failed", path, exc_info=True)
        name = getattr(tsyntax, "name", str(tsyntax))
        if "transfer syntax" in str(exc).lower() or "handler" in str(exc).lower():
            reason = f"unsupported transfer syntax {name} (no installed decoder reads it)"
        else:
            reason = f"pixel data cannot be decoded: {short_reason(exc)}"
        raise DicomReadError(path, reason) from None
    except Exception as exc:  # noqa: BLE001 - decoders raise RuntimeError/ValueError/...
        logger.debug("%s: decoding failed", path, exc_info=True)
        raise DicomReadError(path, _explain_decode_error(exc, ds)) from None
    if arr.ndim == 3 and n_frames > 1 and arr.shape[-1] not in (3, 4):
        arr = arr[0]
    if arr.size == 0:
        raise DicomReadError(path, "pixel data is empty")
    if damage is not None:
        warn.append(f"the JPEG data is damaged ({damage.reason}); some pixels may be wrong")
    return np.ascontiguousarray(arr)


def _explain_decode_error(exc: BaseException, ds: Dataset) -> str:
    text = short_reason(exc)
    low = text.lower()
    if "less than expected" in low or "shorter" in low or "truncat" in low or "not enough" in low:
        return f"pixel data is shorter than Rows x Columns requires (truncated file?): {text}"
    if "no pixel data" in low:
        return "no pixel data in the file (header only)"
    if "all available plugins" in low or "unable to decode" in low or "decod" in low:
        name = getattr(ds.file_meta.get("TransferSyntaxUID"), "name", "compressed")
        return explain_decode_failure(str(exc), name)
    if isinstance(exc, ValueError | TypeError) and "literal" in low:
        return f"a header value needed to decode the pixels is not a number ({text})"
    return f"pixel data cannot be decoded: {text}"
