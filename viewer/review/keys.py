"""Qt-free names of the review in the viewer: session keys of open images and status texts.

Shared by the review controller, the Detection dock and the side panels, so none of them needs
another's class to name an image or a status.
"""

from __future__ import annotations

from detector.files.identity import image_key
from detector.files.scan import Instance
from detector.review import ImageStatus

#: Marks in the study browser's review column.
STATUS_MARKS: dict[ImageStatus, str] = {
    ImageStatus.UNREVIEWED: "",
    ImageStatus.IN_PROGRESS: "\u2026",
    ImageStatus.REVIEWED: "\u2713",
    ImageStatus.NO_OPACITY: "\u2205",
}
STATUS_TEXT: dict[ImageStatus, str] = {
    ImageStatus.UNREVIEWED: "unreviewed",
    ImageStatus.IN_PROGRESS: "in progress",
    ImageStatus.REVIEWED: "reviewed",
    ImageStatus.NO_OPACITY: "no opacity",
}


def key_for(inst: Instance, frame: int = 0) -> str:
    """Session key of an open image's frame."""
    return image_key(inst.sop_instance_uid, frame, inst.path)
