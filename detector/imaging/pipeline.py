"""The one pixel pipeline: DICOM file -> stored -> modality -> VOI -> presentation -> display.

The viewer, the detector and training all call :func:`load_image` and :func:`render`, so the
model sees exactly the pixels the reader sees.

Pipeline (PS3.4 N.2, "Grayscale Transformations"):

1. ``stored``: the decoded frame (pydicom + the pylibjpeg decoders).
2. ``modality``: Rescale Slope/Intercept or the Modality LUT Sequence (PS3.3 C.11.1).
3. ``voi``: Window Center/Width with VOI LUT Function LINEAR / LINEAR_EXACT / SIGMOID, or the
   VOI LUT Sequence (PS3.3 C.11.2); an automatic window from robust percentiles when the header
   has none.
4. presentation: MONOCHROME1 and Presentation LUT Shape ``INVERSE`` are shown inverted.
5. optional display enhancement: global histogram equalization or CLAHE.

All grey transformations of integer pixel data are composed into one lookup table indexed by
the stored value, so changing the window re-renders with a single ``np.take`` and no float maths
per pixel. Float pixel data falls back to vectorised maths.
"""

from __future__ import annotations

import logging
import math
import os
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import ImplicitVRLittleEndian

from detector.imaging.decode_errors import explain_decode_failure
from detector.imaging.plain import (
    PlainImageError,
    read_plain_header,
    read_plain_image,
    sniff_format,
)

logger = logging.getLogger(__name__)

Equalize = Literal["none", "hist", "clahe"]
EQUALIZE_CHOICES: tuple[str, ...] = ("none", "hist", "clahe")

#: SOP classes that are DICOM files but not images (listed, never drawn).
_NON_IMAGE_SOP_PREFIXES = {
    "1.2.840.10008.5.1.4.1.1.88.": "structured report",
    "1.2.840.10008.5.1.4.1.1.11.": "presentation state",
    "1.2.840.10008.5.1.4.1.1.9.": "waveform",
    "1.2.840.10008.5.1.4.1.1.104.": "encapsulated document",
}
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"

_COLOR_PHOTOMETRICS = {
    "RGB",
    "YBR_FULL",
    "YBR_FULL_422",
    "YBR_PARTIAL_420",
    "YBR_ICT",
    "YBR_RCT",
    "PALETTE COLOR",
}


class DicomReadError(Exception):
    """A file could not be read as a DICOM image.

    ``str(err)`` is one line: ``"<file name>: <reason>"``.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{Path(self.path).name}: {reason}")


@dataclass(frozen=True)
class Window:
    """One VOI choice offered to the reader.

    ``kind`` is ``"window"`` (center/width with ``function``), ``"lut"`` (a VOI LUT Sequence
    item, ``lut_index``) or ``"auto"``.
    """

    center: float
    width: float
    function: str = "LINEAR"
    name: str = ""
    kind: str = "window"
    lut_index: int = -1

    def label(self) -> str:
        if self.kind == "lut":
            return self.name or f"VOI LUT {self.lut_index + 1}"
        text = f"C {self.center:g} / W {self.width:g}"
        return f"{self.name} ({text})" if self.name else text


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


# ---------------------------------------------------------------------------------------------
# Reading


def _ensure_transfer_syntax(ds: Dataset) -> None:
    """Files with no File Meta header (ACR-NEMA style) are read as Implicit VR Little Endian."""
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        ds.file_meta = meta = FileMetaDataset()
    if "TransferSyntaxUID" not in meta:
        implicit = getattr(ds, "is_implicit_VR", True)
        little = getattr(ds, "is_little_endian", True)
        if implicit is False or little is False:
            meta.TransferSyntaxUID = (
                pydicom.uid.ExplicitVRLittleEndian if little else pydicom.uid.ExplicitVRBigEndian
            )
        else:
            meta.TransferSyntaxUID = ImplicitVRLittleEndian


def _plausible_dataset(ds: Dataset) -> bool:
    """A forced read of a non-DICOM file usually yields a few junk elements; demand real ones."""
    keys = ("SOPClassUID", "SOPInstanceUID", "PatientID", "StudyInstanceUID", "Modality")
    if any(k in ds for k in keys):
        return True
    return "Rows" in ds and "Columns" in ds and "BitsAllocated" in ds


def _dcmread(
    src: str | os.PathLike[str] | BinaryIO, *, stop_before_pixels: bool, path: str
) -> Dataset:
    # No warnings.catch_warnings here: it is process-global and not thread-safe, and the viewer
    # reads files from several threads at once. Damage is detected from the result instead.
    try:
        ds = pydicom.dcmread(src, stop_before_pixels=stop_before_pixels)
    except InvalidDicomError:
        # No 128-byte preamble + "DICM": either ACR-NEMA style or not DICOM at all.
        if not isinstance(src, str | os.PathLike):
            src.seek(0)
        try:
            ds = pydicom.dcmread(src, stop_before_pixels=stop_before_pixels, force=True)
            ok = _plausible_dataset(ds)
        except Exception:  # noqa: BLE001 - anything a forced parse raises means "not DICOM"
            ok = False
        if not ok:
            raise DicomReadError(
                path, "not a DICOM file (no DICM preamble and no parseable header)"
            ) from None
    if len(ds) == 0:
        # pydicom returns an empty dataset (with only a warning) for a file that ends inside
        # its encapsulated pixel data.
        raise DicomReadError(
            path, "file is truncated or damaged (it ends inside the pixel data; no element read)"
        )
    _drop_stray_item_tags(ds)
    _ensure_transfer_syntax(ds)
    return ds


def _drop_stray_item_tags(ds: Dataset, depth: int = 0) -> None:
    """Remove (FFFE,xxxx) item/delimiter tags parsed as elements of the dataset itself.

    A damaged or oddly encoded file (seen in a JPEG-LS ultrasound) can leave an Item tag among
    the elements; pydicom gives it VR 'NONE' and raises ``NotImplementedError`` as soon as
    anything iterates the dataset. Such a tag is never data, so it is dropped, here and in
    sequence items (the metadata panel walks them all).
    """
    for tag in [t for t in ds.keys() if t.group == 0xFFFE]:
        del ds[tag]
    if depth >= 8:
        return
    for tag in list(ds.keys()):
        raw = ds.get_item(tag)
        vr = getattr(raw, "VR", None)
        if vr is None and tag in pydicom.datadict.DicomDictionary:
            vr = pydicom.datadict.dictionary_VR(tag)
        if vr != "SQ":
            continue
        try:
            items = ds[tag].value
        except Exception:  # noqa: BLE001 - a damaged sequence is left for its reader to report
            continue
        for item in items or []:
            _drop_stray_item_tags(item, depth + 1)


def quiet_pydicom() -> None:
    """Silence pydicom's own warnings and log lines (entry points call this unless --verbose).

    Our :class:`DicomReadError` reasons already name the file and the problem; pydicom's
    warnings about the same damage would only repeat them, without the file name. Its decoder
    logs every plugin failure at ERROR with a full traceback (``LOGGER.exception``), so the
    logger is raised above ERROR: those tracebacks only show with ``--verbose``.
    """
    warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\.|$)")
    logging.getLogger("pydicom").setLevel(logging.CRITICAL)


def read_header(path: str | os.PathLike[str]) -> Dataset:
    """Read the header only (no pixel data), for browsing.

    A plain PNG/JPEG file gets a stand-in header (see :mod:`detector.imaging.plain`).

    Raises
    ------
    DicomReadError
        The file is missing, empty, not DICOM, or its header cannot be parsed at all.
    """
    spath = str(path)
    _check_file(spath)
    fmt = sniff_format(spath)
    if fmt is not None:
        try:
            return read_plain_header(spath, fmt)
        except PlainImageError as exc:
            raise DicomReadError(spath, str(exc)) from None
    try:
        return _dcmread(spath, stop_before_pixels=True, path=spath)
    except DicomReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for corrupt headers
        partial = read_partial_header(spath)
        if partial is not None and len(partial) > 0 and _plausible_dataset(partial):
            return partial
        raise DicomReadError(spath, f"header cannot be parsed ({_short(exc)})") from None


def read_partial_header(path: str | os.PathLike[str]) -> Dataset | None:
    """Read as many header elements as possible from a damaged file (``None`` if none)."""
    from pydicom.filereader import data_element_generator, read_preamble

    try:
        with open(path, "rb") as fp:
            read_preamble(fp, force=True)
            try:
                meta = pydicom.filereader._read_file_meta_info(fp)
            except Exception:  # noqa: BLE001
                meta = FileMetaDataset()
                fp.seek(0)
            tsyntax = meta.get("TransferSyntaxUID", ImplicitVRLittleEndian)
            implicit = tsyntax == ImplicitVRLittleEndian
            little = tsyntax != pydicom.uid.ExplicitVRBigEndian
            ds = Dataset()
            try:
                for elem in data_element_generator(fp, implicit, little, stop_when=None):
                    if elem.tag == 0x7FE00010:
                        break
                    if isinstance(elem, pydicom.dataelem.RawDataElement):
                        ds.add(pydicom.dataelem.convert_raw_data_element(elem))
                    else:
                        ds.add(elem)
            except Exception:  # noqa: BLE001 - keep what was read before the damage
                pass
            ds.file_meta = meta
            return ds
    except OSError:
        return None


def special_file_kind(mode: int) -> str | None:
    """What a non-regular file is, from its ``st_mode`` (``None`` for a regular file)."""
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe), not a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device file, not an image file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a file"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    return None


def _check_file(path: str) -> None:
    """Fail early, without opening the file: opening a FIFO blocks, a device never ends."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DicomReadError(path, "file not found") from None
    except OSError as exc:
        raise DicomReadError(path, f"cannot open ({exc.strerror})") from None
    kind = special_file_kind(st.st_mode)
    if kind is not None:
        raise DicomReadError(path, kind)
    if st.st_size == 0:
        raise DicomReadError(path, "empty file (0 bytes)")


def _short(exc: BaseException) -> str:
    """First line of an exception's message; never a bare exception class name."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if not text or text == type(exc).__name__:
        text = f"the reader stopped without saying why ({type(exc).__name__})"
    return text if len(text) <= 160 else text[:157] + "..."


def read_dataset(path: str | os.PathLike[str]) -> Dataset:
    """Read a whole file (header and pixel data) with the fallbacks of :func:`read_header`."""
    spath = str(path)
    _check_file(spath)
    try:
        return _dcmread(spath, stop_before_pixels=False, path=spath)
    except DicomReadError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise DicomReadError(spath, f"file is damaged ({_short(exc)})") from None


def non_image_kind(ds: Dataset) -> str | None:
    """Describe a DICOM object that is not an image (SR, presentation state, DICOMDIR...)."""
    sop = str(ds.get("SOPClassUID", "") or ds.file_meta.get("MediaStorageSOPClassUID", ""))
    if sop == MEDIA_STORAGE_DIRECTORY or "DirectoryRecordSequence" in ds:
        return "DICOMDIR"
    for prefix, kind in _NON_IMAGE_SOP_PREFIXES.items():
        if sop.startswith(prefix):
            return kind
    if "Rows" not in ds or "Columns" not in ds:
        name = getattr(pydicom.uid.UID(sop), "name", "") if sop else ""
        if name and name != sop and "Image" in name:
            return f"{name} header without Rows/Columns"
        return name if name and name != sop else "no Rows/Columns"
    return None


def number_of_frames(ds: Dataset) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


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
        data, corrupt compressed stream, frame out of range.
    """
    if isinstance(src, Dataset):
        ds = src
        spath = path or str(getattr(src, "filename", "") or "<dataset>")
        _drop_stray_item_tags(ds)
        _ensure_transfer_syntax(ds)
    else:
        spath = str(src)
        _check_file(spath)
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

    stored = _decode_frame(ds, frame, n_frames, spath)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    is_color = stored.ndim == 3
    warn: list[str] = []
    if photometric == "PALETTE COLOR" and not is_color:
        from pydicom.pixels import apply_color_lut

        try:
            stored = apply_color_lut(stored, ds)
            is_color = True
        except Exception as exc:  # noqa: BLE001
            warn.append(f"palette could not be applied ({_short(exc)}); shown as grey")
    if photometric in _COLOR_PHOTOMETRICS and not is_color and photometric != "PALETTE COLOR":
        warn.append(f"{photometric} image decoded with one sample per pixel; shown as grey")

    header = _header_without_pixels(ds, warn)
    warn.extend(_lut_warnings(header))
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
        raise DicomReadError(path, str(exc)) from None
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
                warn.append(f"element {tag} cannot be read and is ignored ({_short(exc)})")
    header.file_meta = ds.file_meta
    header.filename = getattr(ds, "filename", None)
    return header


def _decode_frame(ds: Dataset, frame: int, n_frames: int, path: str) -> np.ndarray:
    from pydicom.pixels import pixel_array

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
            reason = f"pixel data cannot be decoded: {_short(exc)}"
        raise DicomReadError(path, reason) from None
    except Exception as exc:  # noqa: BLE001 - decoders raise RuntimeError/ValueError/...
        logger.debug("%s: decoding failed", path, exc_info=True)
        raise DicomReadError(path, _explain_decode_error(exc, ds)) from None
    if arr.ndim == 3 and n_frames > 1 and arr.shape[-1] not in (3, 4):
        arr = arr[0]
    if arr.size == 0:
        raise DicomReadError(path, "pixel data is empty")
    return np.ascontiguousarray(arr)


def _explain_decode_error(exc: BaseException, ds: Dataset) -> str:
    text = _short(exc)
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


# ---------------------------------------------------------------------------------------------
# Modality LUT (PS3.3 C.11.1)


def _rescale(ds: Dataset) -> tuple[float, float]:
    try:
        slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
        intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    except (TypeError, ValueError):
        return 1.0, 0.0
    if not math.isfinite(slope) or slope == 0:
        slope = 1.0
    if not math.isfinite(intercept):
        intercept = 0.0
    return slope, intercept


def apply_modality(stored: np.ndarray, ds: Dataset) -> np.ndarray:
    """Stored values -> modality values.

    Returns
    -------
    ndarray
        float32, same shape as ``stored``.
    """
    seq = ds.get("ModalityLUTSequence")
    if seq and lut_problem(seq[0]) is None:
        item = seq[0]
        lut = _lut_table(item)
        first = _lut_first_mapped(item, ds)
        index = np.clip(stored.astype(np.int64) - first, 0, lut.size - 1)
        return lut[index].astype(np.float32)
    slope, intercept = _rescale(ds)
    out = stored.astype(np.float32)
    if slope != 1.0:
        out *= np.float32(slope)
    if intercept != 0.0:
        out += np.float32(intercept)
    return out


def lut_problem(item: Dataset) -> str | None:
    """Why a Modality/VOI LUT Sequence item cannot be used (``None`` when it can).

    PS3.3 C.11.1.1.1: LUT Descriptor is three numbers (entries, first stored value mapped, bits);
    LUT Data holds the entries.
    """
    try:
        desc = item.get("LUTDescriptor")
        data = item.get("LUTData")
    except Exception as exc:  # noqa: BLE001 - a damaged value reads as unusable
        return f"its LUT cannot be read ({_short(exc)})"
    if desc is None or isinstance(desc, bytes | str):
        return "(0028,3002) LUT Descriptor is empty"
    try:
        values = [int(v) for v in desc]
    except (TypeError, ValueError):
        return "(0028,3002) LUT Descriptor is not three numbers"
    if len(values) != 3:
        return f"(0028,3002) LUT Descriptor has {len(values)} values, not 3"
    if data is None or (hasattr(data, "__len__") and len(data) == 0):
        return "(0028,3006) LUT Data is empty"
    return None


def _lut_warnings(header: Dataset) -> list[str]:
    out = []
    seq = header.get("ModalityLUTSequence")
    if seq and (problem := lut_problem(seq[0])) is not None:
        out.append(f"Modality LUT Sequence ignored: {problem}")
    for i, item in enumerate(header.get("VOILUTSequence") or []):
        if (problem := lut_problem(item)) is not None:
            out.append(f"VOI LUT {i + 1} ignored: {problem}")
    return out


def _lut_first_mapped(item: Dataset, ds: Dataset | None = None) -> int:
    first = int(item.LUTDescriptor[1])
    # The first mapped value is US or SS like the pixels; read as US it can hold a negative SS.
    if ds is not None and first >= 0x8000 and ds.get("PixelRepresentation", 0) == 1:
        first -= 0x10000
    return first


def _lut_table(item: Dataset) -> np.ndarray:
    """LUT Data as a float array; handles OW/US byte data and 8-bit LUTs packed in 16 bits."""
    desc = item.LUTDescriptor
    n_entries = int(desc[0]) or 65536
    bits = int(desc[2])
    raw = item.LUTData
    if isinstance(raw, bytes | bytearray):
        data = np.frombuffer(raw, dtype="<u2" if bits > 8 or len(raw) >= 2 * n_entries else "u1")
    elif isinstance(raw, int | float):
        data = np.asarray([raw])
    else:
        data = np.asarray(list(raw))
    data = data[:n_entries].astype(np.float64)
    if data.size == 0:
        raise ValueError("The (0028,3006) LUT Data is empty")
    return data


# ---------------------------------------------------------------------------------------------
# VOI (PS3.3 C.11.2)


def _as_floats(value: Any) -> list[float]:
    if value is None or value == "":
        return []
    if isinstance(value, pydicom.multival.MultiValue | list | tuple):
        items = list(value)
    else:
        items = [value]
    out = []
    for v in items:
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            out.append(f)
    return out


def header_windows(ds: Dataset) -> list[Window]:
    """All VOI choices the header offers, in the order a viewer shows them.

    A VOI LUT Sequence comes first (pydicom's ``prefer_lut`` convention), then every Window
    Center/Width pair. Widths <= 0 (and < 1 for LINEAR) are dropped as invalid.
    """
    windows: list[Window] = []
    for i, item in enumerate(ds.get("VOILUTSequence") or []):
        if lut_problem(item) is None:
            name = str(item.get("LUTExplanation", "") or "")
            windows.append(Window(0.0, 1.0, name=name, kind="lut", lut_index=i))
    centers = _as_floats(ds.get("WindowCenter"))
    widths = _as_floats(ds.get("WindowWidth"))
    explanations = ds.get("WindowCenterWidthExplanation")
    if isinstance(explanations, str):
        explanations = [explanations]
    explanations = list(explanations or [])
    function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").strip().upper()
    if function not in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
        function = "LINEAR"
    for i, (c, w) in enumerate(zip(centers, widths, strict=False)):
        if w <= 0 or (function == "LINEAR" and w < 1):
            continue
        name = str(explanations[i]) if i < len(explanations) else ""
        windows.append(Window(c, w, function=function, name=name))
    return windows


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
    lo, hi = image.modality_range
    if hi <= lo:
        hi = lo + 1.0
    return Window((lo + hi) / 2.0, hi - lo, function="LINEAR_EXACT", name="Full range", kind="auto")


def voi_to_unit(values: np.ndarray, window: Window, ds: Dataset | None = None) -> np.ndarray:
    """Modality values -> [0, 1] float64 through one VOI choice.

    LINEAR and LINEAR_EXACT follow PS3.3 C.11.2.1.2; SIGMOID follows C.11.2.1.3.1.
    """
    x = np.asarray(values, dtype=np.float64)
    if window.kind == "lut":
        if ds is None:
            raise ValueError("a VOI LUT window needs the dataset that holds the LUT")
        item = ds.VOILUTSequence[window.lut_index]
        lut = _lut_table(item)
        first = _lut_first_mapped(item, ds)
        bits = int(item.LUTDescriptor[2])
        top = float(2**bits - 1) if bits > 0 else float(lut.max() or 1)
        top = max(top, float(lut.max()))
        index = np.clip(np.rint(x).astype(np.int64) - first, 0, lut.size - 1)
        return lut[index] / (top if top > 0 else 1.0)
    c, w = window.center, window.width
    if window.function == "SIGMOID":
        if w <= 0:
            raise ValueError(
                "The (0028,1051) Window Width must be greater than 0 for a 'SIGMOID' windowing "
                "operation"
            )
        return 1.0 / (1.0 + np.exp(-4.0 * (x - c) / w))
    if window.function == "LINEAR_EXACT":
        w = max(w, 1e-12)
        return np.clip((x - c) / w + 0.5, 0.0, 1.0)
    w = max(w, 1.0)
    return np.clip((x - (c - 0.5)) / (w - 1.0 if w > 1 else 1.0) + 0.5, 0.0, 1.0)


# ---------------------------------------------------------------------------------------------
# Rendering


@dataclass(frozen=True)
class RenderOptions:
    window: Window | None = None  # None: the image's default window
    invert: bool | None = None  # None: MONOCHROME1 / INVERSE default; True/False override
    equalize: str = "none"  # "none" | "hist" | "clahe"


def _gray_lut(image: DicomImage, window: Window, invert: bool) -> np.ndarray:
    """uint8 LUT indexed by ``stored - stored_min`` composing modality, VOI and inversion."""
    key = (window, invert)
    lut = image._lut_cache.get(key)
    if lut is None:
        stored_values = np.arange(image._stored_min, image._stored_max + 1, dtype=np.int64)
        unit = voi_to_unit(apply_modality(stored_values, image.header), window, image.header)
        if invert:
            unit = 1.0 - unit
        lut = np.rint(unit * 255.0).astype(np.uint8)
        if len(image._lut_cache) > 16:
            image._lut_cache.clear()
        image._lut_cache[key] = lut
    return lut


def render(
    image: DicomImage,
    window: Window | None = None,
    *,
    invert: bool | None = None,
    equalize: str = "none",
) -> np.ndarray:
    """Display pixels for one image.

    Parameters
    ----------
    window : Window, optional
        VOI choice; the image's default (first header window, else auto) when omitted.
    invert : bool, optional
        Final inversion; when omitted, MONOCHROME1 or Presentation LUT Shape INVERSE invert.
    equalize : {"none", "hist", "clahe"}
        Display enhancement applied to the windowed image (off by default).

    Returns
    -------
    ndarray
        uint8 (rows, cols) in 0..255 for grey, uint8 (rows, cols, 3) RGB for colour.
    """
    if equalize not in EQUALIZE_CHOICES:
        raise ValueError(f"equalize must be one of {EQUALIZE_CHOICES}, not {equalize!r}")
    do_invert = image.invert_default if invert is None else invert
    if image.is_color:
        rgb = image.stored
        if rgb.shape[-1] == 4:
            rgb = rgb[..., :3]
        if rgb.dtype != np.uint8:
            # 16-bit colour (e.g. a 16-bit palette): scale by the smallest 2**n - 1 that holds it.
            top = float(2 ** int(max(8, math.ceil(math.log2(float(rgb.max()) + 1)))) - 1)
            rgb = np.rint(rgb.astype(np.float32) * (255.0 / top)).astype(np.uint8)
        if do_invert and invert is not None:
            rgb = 255 - rgb
        return np.ascontiguousarray(rgb)

    win = window or image.default_window
    if equalize != "none":
        # Equalise the un-inverted windowed image, then invert, so that "invert" means the same
        # thing with and without enhancement.
        base = _render_gray(image, win, False)
        out = equalize_display(base, equalize)
        return 255 - out if do_invert else out
    return _render_gray(image, win, do_invert)


def _render_gray(image: DicomImage, window: Window, invert: bool) -> np.ndarray:
    stored = image.stored
    if stored.dtype.kind in "ui" and image._stored_max - image._stored_min <= (1 << 20):
        lut = _gray_lut(image, window, invert)
        if image._stored_min == 0:
            return lut[stored]
        index = stored.astype(np.int32, copy=False) if stored.dtype.kind == "i" else stored
        return lut[index - image._stored_min]
    unit = voi_to_unit(image.modality, window, image.header)
    if invert:
        unit = 1.0 - unit
    return np.rint(np.nan_to_num(unit) * 255.0).astype(np.uint8)


def equalize_display(display: np.ndarray, method: str) -> np.ndarray:
    """Global histogram equalization or CLAHE (scikit-image) of an 8-bit grey image.

    Returns
    -------
    ndarray
        uint8, same shape.
    """
    from skimage import exposure

    if method == "none":
        return display
    if method == "hist":
        # 256-bin equalisation as a LUT: exact for uint8 input and far cheaper than float maths.
        hist = np.bincount(display.ravel(), minlength=256)
        cdf = np.cumsum(hist).astype(np.float64)
        nonzero = cdf[cdf > 0]
        lo = nonzero[0] if nonzero.size else 0.0
        span = max(cdf[-1] - lo, 1.0)
        lut = np.clip(np.rint((cdf - lo) / span * 255.0), 0, 255).astype(np.uint8)
        return lut[display]
    if method == "clahe":
        out = exposure.equalize_adapthist(display, clip_limit=0.01)
        return np.rint(out * 255.0).astype(np.uint8)
    raise ValueError(f"equalize must be one of {EQUALIZE_CHOICES}, not {method!r}")


def to_gray(display: np.ndarray) -> np.ndarray:
    """uint8 grey from a display image (RGB -> luma, BT.601)."""
    if display.ndim == 2:
        return display
    rgb = display[..., :3].astype(np.float32)
    luma = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return np.rint(luma).astype(np.uint8)


def resize_display(display: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize an 8-bit display image with antialiasing (Pillow bilinear with support scaling).

    ``size`` as an int is the longer side (aspect ratio kept); a tuple is ``(height, width)``.
    """
    from PIL import Image

    h, w = display.shape[:2]
    if isinstance(size, int):
        scale = size / max(h, w)
        out_h, out_w = max(1, round(h * scale)), max(1, round(w * scale))
    else:
        out_h, out_w = size
    if (out_h, out_w) == (h, w):
        return display
    pil = Image.fromarray(display)
    # np.array, not np.asarray: Pillow's buffer is read-only and torch.from_numpy warns on it.
    return np.array(pil.resize((out_w, out_h), Image.Resampling.BILINEAR))


def display_pixels(
    src: str | os.PathLike[str] | Dataset,
    *,
    frame: int = 0,
    window: tuple[float, float] | Window | None = None,
    equalize: str = "none",
    invert: bool | None = None,
) -> np.ndarray:
    """Convenience: read, decode and render in one call (what convert, detect and train use).

    ``window`` may be a ``(center, width)`` pair, applied with LINEAR.
    """
    image = load_image(src, frame)
    win = Window(float(window[0]), float(window[1])) if isinstance(window, tuple) else window
    return render(image, win, invert=invert, equalize=equalize)
