"""Deflated DICOM files built byte by byte: bombs, liars and honest small images.

pydicom's writer would need the whole inflated dataset in memory; these repeat one compressed
block of zeros, so a 1 MB file that inflates to a gigabyte costs the test nothing.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian, generate_uid

CR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1"
#: The checkout under test: a child process must import this tree, whatever the current folder.
ROOT = Path(__file__).resolve().parents[3]


#: Defines ``peak_mib()`` in a probe: this process's peak RSS in MiB. ``VmHWM`` belongs to the
#: process's own memory map; ``ru_maxrss`` would also count the parent's peak (a vfork'ed child
#: inherits it through exec), which says nothing about the code under test.
PEAK_RSS_CODE = """
import resource, sys
def peak_mib():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak >> 20 if sys.platform == "darwin" else peak >> 10
"""


def run_probe(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh Python of this checkout, warnings silenced; ``peak_mib()`` is
    defined for it (see :data:`PEAK_RSS_CODE`)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-c", PEAK_RSS_CODE + code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )


def _explicit_le(ds: Dataset, meta: bool = False) -> bytes:
    buf = DicomBytesIO()
    buf.is_little_endian = True
    buf.is_implicit_VR = False
    if meta:
        write_file_meta_info(buf, ds)  # type: ignore[arg-type]
    else:
        write_dataset(buf, ds)
    return buf.getvalue()


def write_deflated(
    path: Path,
    *,
    rows: int,
    cols: int,
    bits: int = 8,
    pixels: np.ndarray | None = None,
    zeros: int | None = None,
) -> Path:
    """Write a Deflated Explicit VR Little Endian CR image.

    ``pixels`` are stored as given; otherwise ``zeros`` bytes of zeros (default: what
    ``rows x cols x bits`` declares) are streamed as the pixel data.
    """
    ds = Dataset()
    ds.SOPClassUID = CR_IMAGE_STORAGE
    ds.SOPInstanceUID = generate_uid()
    ds.PatientID = "BOMB"
    ds.Modality = "CR"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelRepresentation = 0
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    data = pixels.tobytes() if pixels is not None else b""
    n = len(data) if pixels is not None else (rows * cols * bits // 8 if zeros is None else zeros)
    element = struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW" if bits > 8 else b"OB", 0, n)
    with open(path, "wb") as out:
        out.write(b"\0" * 128 + b"DICM" + _explicit_le(meta, meta=True))
        out.write(_deflate_block(_explicit_le(ds) + element + data))
        # Each block is byte-aligned and refers to nothing before it, so one compressed MiB
        # of zeros can be repeated: a gigabyte costs a millisecond.
        block = _deflate_block(bytes(1 << 20))
        left = n - len(data)
        out.write(block * (left >> 20))
        if left % (1 << 20):
            out.write(_deflate_block(bytes(left % (1 << 20))))
        out.write(zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS).flush())  # final block
    return path


def _deflate_block(data: bytes) -> bytes:
    """``data`` as non-final raw deflate blocks ending on a full flush (no back-references)."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return deflater.compress(data) + deflater.flush(zlib.Z_FULL_FLUSH)
