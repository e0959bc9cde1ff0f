"""Reading Deflated Explicit VR Little Endian files without ever inflating more than the limit.

pydicom inflates a deflated dataset whole, with ``zlib.decompress``, before reading even its
header: a 1 MB file of compressed zeros then takes gigabytes, for ``info`` as for a decode.
Here the dataset is inflated lazily, by a bounded ``zlib.decompressobj`` (``max_length``), only
as far as the parser reads: a header read stops at the pixel data, and a whole read is checked
against the size the header declares (:mod:`detector.imaging.limits`) before a pixel is
inflated. Nothing is ever inflated beyond the limit.
"""

from __future__ import annotations

import io
import zlib

from pydicom.dataset import Dataset, FileDataset
from pydicom.filereader import _read_file_meta_info, read_dataset, read_preamble
from pydicom.tag import BaseTag, Tag
from pydicom.uid import DeflatedExplicitVRLittleEndian

from detector.imaging.limits import (
    declared_pixel_bytes,
    max_pixel_bytes,
    over_limit_reason,
    pixel_limit_reason,
    size_text,
)

#: How far into a file the Deflated transfer syntax UID is looked for (the File Meta group).
_SNIFF_BYTES = 16 * 1024
#: Inflated bytes allowed for the elements around the pixel data (header and trailing elements).
HEADER_ALLOWANCE = 64 << 20
_CHUNK = 1 << 20
_PIXEL_TAGS = {Tag(0x7FE00008), Tag(0x7FE00009), Tag(0x7FE00010)}


class DeflateError(Exception):
    """A deflated dataset that cannot be read; ``reason`` is one line without the file name."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _InflatingReader(io.RawIOBase):
    """A read-only, seekable view of a deflate stream, inflated only as far as it is read.

    Everything inflated so far is kept (the parser seeks back over short distances); inflating
    past ``cap`` bytes raises :class:`DeflateError`.
    """

    def __init__(self, raw: io.BufferedReader, cap: int, name: str) -> None:
        super().__init__()
        self._raw = raw
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        self._data = bytearray()
        self._pos = 0
        self._done = False
        self.cap = cap
        #: The reason given when inflating would pass ``cap``.
        self.cap_reason = over_limit_reason("the deflated data inflates to more", cap)
        self.name = name

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    @property
    def inflated(self) -> int:
        """Bytes inflated so far."""
        return len(self._data)

    def _fill(self, end: int) -> None:
        """Inflate until ``end`` bytes are available, the stream ends, or the cap is passed."""
        while len(self._data) < end and not self._done:
            room = self.cap + 1 - len(self._data)
            if room <= 0:
                raise DeflateError(self.cap_reason)
            want = min(room, max(end - len(self._data), _CHUNK))
            try:
                if self._inflater.unconsumed_tail:
                    piece = self._inflater.decompress(self._inflater.unconsumed_tail, want)
                else:
                    compressed = self._raw.read(_CHUNK)
                    if not compressed:
                        self._done = True
                        piece = self._inflater.flush()[:room]
                    else:
                        piece = self._inflater.decompress(compressed, want)
            except zlib.error as exc:
                raise DeflateError(f"the deflated data is damaged (zlib: {exc})") from None
            self._data += piece
            if self._inflater.eof:
                self._done = True
        if len(self._data) > self.cap:
            raise DeflateError(self.cap_reason)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            self._fill(self.cap + 1)
            end = len(self._data)
        else:
            end = self._pos + size
            self._fill(end)
        out = bytes(self._data[self._pos : end])
        self._pos += len(out)
        return out

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        else:
            self._fill(self.cap + 1)
            pos = len(self._data) + offset
        self._pos = max(0, pos)
        return self._pos


def is_deflated(path: str) -> bool:
    """Whether the File Meta group of ``path`` names the Deflated transfer syntax (cheap)."""
    try:
        with open(path, "rb") as fp:
            head = fp.read(_SNIFF_BYTES)
    except OSError:
        return False
    return str(DeflatedExplicitVRLittleEndian).encode() in head


def _at_pixels(tag: BaseTag, vr: str | None, length: int) -> bool:
    return tag in _PIXEL_TAGS


def read_deflated(path: str, *, stop_before_pixels: bool) -> Dataset | None:
    """Read a Deflated Explicit VR Little Endian file, never inflating past the limit.

    Returns
    -------
    Dataset or None
        The dataset (header only with ``stop_before_pixels``); ``None`` when the file does not
        use the Deflated transfer syntax after all (the caller reads it the usual way).

    Raises
    ------
    DeflateError
        The header declares more pixel data than the limit, the stream inflates past it, or
        the stream is damaged.
    """
    limit = max_pixel_bytes()
    with open(path, "rb") as raw:
        preamble = read_preamble(raw, True)
        file_meta = _read_file_meta_info(raw)
        if file_meta.get("TransferSyntaxUID") != DeflatedExplicitVRLittleEndian:
            return None
        reader = _InflatingReader(raw, limit + HEADER_ALLOWANCE, path)
        header = read_dataset(reader, False, True, stop_when=_at_pixels)  # type: ignore[arg-type]
        if stop_before_pixels:
            dataset = header
        else:
            reason = pixel_limit_reason(header)
            if reason is not None:
                raise DeflateError(reason)
            # Inflate no more than the header declares (plus room for the elements around
            # it): a small image followed by a gigabyte of zeros is a bomb too.
            declared = declared_pixel_bytes(header)
            reader.cap = min(limit, declared if declared is not None else limit) + HEADER_ALLOWANCE
            reader.cap_reason = (
                f"the deflated data inflates to more than its header declares "
                f"(over {size_text(reader.cap)})"
            )
            reader.seek(0)  # the header is re-parsed from what is already inflated
            dataset = read_dataset(reader, False, True)  # type: ignore[arg-type]
    ds = FileDataset(path, dataset, preamble, file_meta, False, True)
    ds.set_original_encoding(False, True, dataset._character_set)
    return ds
