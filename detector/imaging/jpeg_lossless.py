"""A small JPEG Lossless encoder (ITU T.81 process 14, first-order prediction, SV1).

pydicom and the pylibjpeg plugins decode JPEG Lossless but cannot write it; the self-test and
the tests need such files to check that the decoder is there (also in the frozen app).
Only single-component (grey) images; speed is of no concern (a few thousand pixels).
"""

from __future__ import annotations

import struct

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGLosslessSV1

#: Huffman table: the 17 difference categories SSSS = 0..16, each coded on 5 bits.
_CODE_LENGTH = 5


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", marker, len(payload) + 2) + payload


def encode_jpeg_lossless(pixels: np.ndarray, precision: int) -> bytes:
    """Encode a (rows, cols) unsigned integer array as a JPEG Lossless SV1 codestream.

    Parameters
    ----------
    pixels : ndarray
        uint8 or uint16 grey pixels, all below ``2**precision``.
    precision : int
        Sample precision P in bits, 2..16 (DICOM Bits Stored).

    Returns
    -------
    bytes
        The codestream, SOI to EOI.
    """
    arr = np.asarray(pixels)
    if arr.ndim != 2 or arr.dtype.kind != "u":
        raise ValueError(f"expected a 2-D unsigned array, got {arr.dtype} {arr.shape}")
    if not 2 <= precision <= 16 or int(arr.max(initial=0)) >= 1 << precision:
        raise ValueError(f"precision {precision} does not hold the pixel values")
    rows, cols = arr.shape
    data = arr.astype(np.int64)
    # Predictor 1 (left); first row left, first column above, first sample 2**(P-1).
    pred = np.empty_like(data)
    pred[:, 1:] = data[:, :-1]
    pred[1:, 0] = data[:-1, 0]
    pred[0, 0] = 1 << (precision - 1)
    diff = (data - pred) % 65536
    diff = np.where(diff >= 32768, diff - 65536, diff)

    bits: list[str] = []
    for d in diff.ravel().tolist():
        ssss = 16 if d == 32768 else int(abs(d)).bit_length()
        bits.append(format(ssss, f"0{_CODE_LENGTH}b"))
        if 0 < ssss < 16:
            extra = d if d > 0 else d - 1
            bits.append(format(extra & ((1 << ssss) - 1), f"0{ssss}b"))
    stream = "".join(bits)
    stream += "1" * (-len(stream) % 8)
    body = bytearray()
    for i in range(0, len(stream), 8):
        byte = int(stream[i : i + 8], 2)
        body.append(byte)
        if byte == 0xFF:
            body.append(0x00)

    counts = [0] * 16
    counts[_CODE_LENGTH - 1] = 17
    out = bytearray(b"\xff\xd8")
    out += _segment(0xFFC3, struct.pack(">BHHBBBB", precision, rows, cols, 1, 1, 0x11, 0))
    out += _segment(0xFFC4, bytes([0x00, *counts, *range(17)]))
    out += _segment(0xFFDA, bytes([1, 1, 0x00, 1, 0, 0]))
    out += body
    out += b"\xff\xd9"
    return bytes(out)


def compress_jpeg_lossless(ds: Dataset) -> Dataset:
    """Re-encode a single-frame grey dataset as JPEG Lossless SV1 (in place)."""
    arr = ds.pixel_array
    ds.PixelData = encapsulate([encode_jpeg_lossless(arr, int(ds.BitsStored))])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
    return ds
