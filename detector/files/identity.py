"""One image identity for the whole project.

Two keys, derived here and nowhere else:

``patient_id``
    The RSNA ``patientId`` used for every CSV read or written (labels, predictions,
    submissions, class info, the ``detect``/``train``/``convert``/``export`` commands): the file
    name without a known image suffix (``.dcm``, ``.dicom``, ``.dic``, ``.ima``, ``.png``,
    ``.jpg``, ``.jpeg``), so ``abc.dcm`` and the converted ``abc.png`` are the same patient.
    Other names are kept whole (a UID-named file ``1.2.840.5`` is not cut at its last dot).
    Frames after the first get ``_f<N>`` (the RSNA set is single-frame, so its ids never do).
``image_key``
    The key of one image inside a review session: ``"<SOPInstanceUID>/<frame>"``, stable when
    files are renamed or moved; ``"path:<absolute path>/<frame>"`` for files without a
    SOPInstanceUID (plain PNG/JPEG).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: Suffixes stripped from a file name to give its patientId (compared case-insensitively).
IMAGE_SUFFIXES: tuple[str, ...] = (".dcm", ".dicom", ".dic", ".ima", ".png", ".jpg", ".jpeg")


def patient_id_for(path: str | os.PathLike[str], frame: int = 0) -> str:
    """RSNA ``patientId`` of an image file (see the module docstring).

    Examples
    --------
    >>> patient_id_for("/data/0004cfab-14fd.dcm")
    '0004cfab-14fd'
    >>> patient_id_for("scan.PNG"), patient_id_for("1.2.840.5"), patient_id_for("cine.dcm", 2)
    ('scan', '1.2.840.5', 'cine_f2')
    """
    p = Path(os.fspath(path))
    name = p.stem if p.suffix.lower() in IMAGE_SUFFIXES else p.name
    if int(frame) < 0:
        raise ValueError(f"frame must be >= 0, not {frame}")
    return f"{name}_f{int(frame)}" if int(frame) else name


def image_key(sop_instance_uid: str | None, frame: int = 0, path: str = "") -> str:
    """Session key of one frame: ``"<SOPInstanceUID>/<frame>"`` (``"path:<abs>/<frame>"``).

    Raises
    ------
    ValueError
        Neither a SOPInstanceUID nor a path, or a negative frame.
    """
    if int(frame) < 0:
        raise ValueError(f"frame must be >= 0, not {frame}")
    uid = (sop_instance_uid or "").strip()
    if uid and uid != path:
        return f"{uid}/{int(frame)}"
    if not path:
        raise ValueError("an image key needs a SOPInstanceUID or a path")
    return f"path:{os.path.abspath(path)}/{int(frame)}"


@dataclass(frozen=True)
class ImageIdentity:
    """Both keys of one frame plus where it came from."""

    key: str
    patient_id: str
    path: str
    sop_instance_uid: str
    frame: int


def identify(path: str, sop_instance_uid: str | None = None, frame: int = 0) -> ImageIdentity:
    """Both keys of a file's frame; the SOPInstanceUID comes from the caller (scan) if known.

    When ``sop_instance_uid`` is ``None`` the header is read (and a file without one, or
    without a readable header, is keyed by its path).
    """
    uid = sop_instance_uid
    if uid is None:
        from detector.imaging.read import DicomReadError, read_header

        try:
            uid = str(read_header(path).get("SOPInstanceUID", "") or "")
        except DicomReadError:
            uid = ""
    return ImageIdentity(
        key=image_key(uid, frame, path),
        patient_id=patient_id_for(path, frame),
        path=os.fspath(path),
        sop_instance_uid=uid or "",
        frame=int(frame),
    )
