"""Many SRs at once: the model's results of ``pneumoview detect --format sr``, and who made them.

One SR per image into an output folder (:func:`detector.sr.write.write_sr`), named by the
image's SOPInstanceUID. An input without a DICOM header (PNG, JPEG) cannot be referenced by an
SR: it is refused with one line, and the others are written.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from detector.errors import PneumoViewError
from detector.sr.write import SrAuthor, SrBox, write_sr
from detector.types import DetectionResult


def model_author(model_path: str | os.PathLike[str], meta: Mapping[str, Any]) -> SrAuthor:
    """The algorithm's name (checkpoint file, architecture) and version (sha256 of the file).

    The version is ``sha256:<first 16 hex digits>`` of the checkpoint, so two reports name the
    same model exactly when the same weights made them.
    """
    path = Path(model_path)
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        version = f"sha256:{digest.hexdigest()[:16]}"
    except OSError:
        version = "unknown"
    arch = f"{meta.get('arch', '?')}/{meta.get('backbone', '?')}"
    return SrAuthor(algorithm=f"PneumoView {path.name} ({arch})", version=version)


def read_header(path: str) -> Any:
    """The DICOM header of an input, or :class:`PneumoViewError` for a plain image."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError, ValueError, EOFError):
        raise PneumoViewError(
            path, "no DICOM header (a plain image); an SR can only reference a DICOM image"
        ) from None


def write_detection_srs(
    pairs: Sequence[tuple[str, DetectionResult]],
    threshold: float,
    author: SrAuthor,
    out_dir: str | os.PathLike[str],
    *,
    frame: int = 0,
) -> tuple[int, list[str]]:
    """One SR per successfully detected image: its boxes with ``score >= threshold``.

    Returns
    -------
    written : int
        SR files written.
    problems : list of str
        One ``"<file>: <reason>"`` line per image refused (no DICOM header, no UIDs).
    """
    written = 0
    problems: list[str] = []
    for path, result in pairs:
        if result.error is not None:
            continue  # already reported by the detection itself
        try:
            header = read_header(path)
            frames = int(header.get("NumberOfFrames", 1) or 1)
            boxes = [
                SrBox(d.box_xywh, d.score, "model", f"box {i + 1}")
                for i, d in enumerate(result.above(threshold))
            ]
            write_sr(
                header,
                boxes,
                author,
                out_dir,
                frame=frame if frames > 1 else None,
                path=path,
            )
            written += 1
        except PneumoViewError as err:
            problems.append(f"{path}: {err.reason}")
    return written, problems
