"""Image files of a training/evaluation folder, found by name and sized from headers only.

Torch-free, so ``eval`` can check boxes against image sizes without loading torch.
"""

from __future__ import annotations

import os

from detector.errors import PneumoViewError
from detector.files.identity import patient_id_for
from detector.imaging.read import DicomReadError, read_header

DICOM_SUFFIXES = (".dcm", ".dicom", ".dic")
PNG_SUFFIXES = (".png", ".jpg", ".jpeg")


class DatasetError(PneumoViewError):
    """The training data cannot be used; ``str(err)`` is ``"<file name>: <reason>"``."""


def find_images(folder: str | os.PathLike[str]) -> dict[str, str]:
    """``image id (file stem) -> path`` for the DICOM and PNG files under ``folder``.

    A DICOM file wins over a PNG with the same stem; otherwise the first path in sorted order.

    Raises
    ------
    DatasetError
        The folder does not exist.
    """
    root = os.fspath(folder)
    if not os.path.isdir(root):
        raise DatasetError(root, "image folder not found")
    found: dict[str, str] = {}
    pngs: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            stem, suffix = patient_id_for(name), os.path.splitext(name)[1]
            if suffix.lower() in DICOM_SUFFIXES:
                found.setdefault(stem, os.path.join(dirpath, name))
            elif suffix.lower() in PNG_SUFFIXES:
                pngs.setdefault(stem, os.path.join(dirpath, name))
    for stem, path in pngs.items():
        found.setdefault(stem, path)
    return found


def is_png(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in PNG_SUFFIXES


def probe_image(path: str) -> tuple[int, int, str]:
    """``(height, width, patient key)`` from the header only; ``DicomReadError`` when unusable."""
    if is_png(path):
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as img:
                width, height = img.size
        except (OSError, UnidentifiedImageError) as exc:
            raise DicomReadError(path, f"not a readable PNG ({exc})") from None
        return int(height), int(width), ""
    ds = read_header(path)
    rows, cols = ds.get("Rows"), ds.get("Columns")
    if not rows or not cols:
        raise DicomReadError(path, "no image: (0028,0010) Rows / (0028,0011) Columns missing")
    return int(rows), int(cols), str(ds.get("PatientID", "") or "").strip()
