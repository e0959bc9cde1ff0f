"""Reading image files: checks before opening, sniffing, DICOM headers and whole datasets.

:func:`read_header` reads a header only (for browsing); :func:`read_dataset` reads a whole file
with pixel data for :func:`detector.imaging.decode.load_image`. Both fail early on a folder, FIFO,
device or empty file (never opened), retry a file without the DICM preamble as ACR-NEMA style,
and keep what can be read of a damaged header. Plain PNG/JPEG files (recognised by content) get a
stand-in header from :mod:`detector.imaging.plain`. Every failure is a :class:`DicomReadError`
whose message is one line, ``"<file name>: <reason>"``.
"""

from __future__ import annotations

import logging
import os
import stat
import warnings
from typing import BinaryIO

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import ImplicitVRLittleEndian

from detector.errors import PneumoViewError
from detector.imaging.decode_errors import short_reason
from detector.imaging.deflate import DeflateError, is_deflated, read_deflated
from detector.imaging.plain import PlainImageError, read_plain_header, sniff_format

#: SOP classes that are DICOM files but not images (listed, never drawn).
_NON_IMAGE_SOP_PREFIXES = {
    "1.2.840.10008.5.1.4.1.1.88.": "structured report",
    "1.2.840.10008.5.1.4.1.1.11.": "presentation state",
    "1.2.840.10008.5.1.4.1.1.9.": "waveform",
    "1.2.840.10008.5.1.4.1.1.104.": "encapsulated document",
}
_MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"


class DicomReadError(PneumoViewError):
    """A file could not be read as a DICOM image.

    ``str(err)`` is one line: ``"<file name>: <reason>"``.
    """


def ensure_transfer_syntax(ds: Dataset) -> None:
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
    deflated = None
    if isinstance(src, str) and is_deflated(src):
        # pydicom would inflate the whole dataset first, however large (a decompression bomb).
        try:
            deflated = read_deflated(src, stop_before_pixels=stop_before_pixels)
        except DeflateError as exc:
            raise DicomReadError(path, exc.reason) from None
    try:
        if deflated is not None:
            ds = deflated
        else:
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
    drop_stray_item_tags(ds)
    ensure_transfer_syntax(ds)
    return ds


def drop_stray_item_tags(ds: Dataset, depth: int = 0) -> None:
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
            drop_stray_item_tags(item, depth + 1)


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
    check_file(spath)
    fmt = sniff_format(spath)
    if fmt is not None:
        try:
            return read_plain_header(spath, fmt)
        except PlainImageError as exc:
            raise DicomReadError(spath, exc.reason) from None
    try:
        return _dcmread(spath, stop_before_pixels=True, path=spath)
    except DicomReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for corrupt headers
        partial = _read_partial_header(spath)
        if partial is not None and len(partial) > 0 and _plausible_dataset(partial):
            if isinstance(exc, RecursionError):
                why = "sequences nested too deeply to read"
            else:
                why = f"header is damaged ({short_reason(exc)})"
            partial._pv_cut_reason = f"{why}; only the {len(partial)} elements before it were read"
            return partial
        raise DicomReadError(spath, f"header cannot be parsed ({short_reason(exc)})") from None


def header_cut_reason(ds: Dataset) -> str | None:
    """Why :func:`read_header` returned only part of a header (``None``: the whole was read).

    A damaged header (or one with sequences nested deeper than the parser's recursion limit)
    is kept up to the damage, so that a folder scan still lists the file; ``info`` says it
    was cut short instead of showing the part as if it were all.
    """
    reason = getattr(ds, "_pv_cut_reason", None)
    return reason if isinstance(reason, str) else None


def _read_partial_header(path: str | os.PathLike[str]) -> Dataset | None:
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


def check_file(path: str) -> None:
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


def read_dataset(path: str | os.PathLike[str]) -> Dataset:
    """Read a whole file (header and pixel data) with the fallbacks of :func:`read_header`."""
    spath = str(path)
    check_file(spath)
    try:
        return _dcmread(spath, stop_before_pixels=False, path=spath)
    except DicomReadError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise DicomReadError(spath, f"file is damaged ({short_reason(exc)})") from None


def non_image_kind(ds: Dataset) -> str | None:
    """Describe a DICOM object that is not an image (SR, presentation state, DICOMDIR...)."""
    sop = str(ds.get("SOPClassUID", "") or ds.file_meta.get("MediaStorageSOPClassUID", ""))
    if sop == _MEDIA_STORAGE_DIRECTORY or "DirectoryRecordSequence" in ds:
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
