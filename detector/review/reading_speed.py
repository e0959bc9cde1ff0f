"""How fast the reading goes: images per hour and the median seconds per image (no Qt)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from detector.review.records import DONE_STATUSES, ImageReview


@dataclass(frozen=True)
class ReadingSpeed:
    """The pace of a review session.

    ``images``: images finished (reviewed or "no opacity") that were on screen;
    ``seconds``: time on screen over all images, finished or not;
    ``median_seconds``: the median time on a finished image.
    """

    images: int
    seconds: float
    median_seconds: float

    @property
    def images_per_hour(self) -> float:
        """Finished images per hour of reading (``images / seconds * 3600``)."""
        return self.images * 3600.0 / self.seconds

    def text(self) -> str:
        """One line for the status bar, e.g. ``"120 images/h, median 25 s/image"``."""
        return f"{self.images_per_hour:.0f} images/h, median {self.median_seconds:.0f} s/image"


def reading_speed(images: Iterable[ImageReview]) -> ReadingSpeed | None:
    """The pace of a session from its images' time on screen (:attr:`ImageReview.seconds`).

    Parameters
    ----------
    images : iterable of ImageReview
        The session's images.

    Returns
    -------
    ReadingSpeed or None
        ``None`` until an image with time on screen is finished.
    """
    images = list(images)
    finished = [im.seconds for im in images if im.status in DONE_STATUSES and im.seconds > 0]
    if not finished:
        return None
    total = sum(im.seconds for im in images if im.seconds > 0)
    return ReadingSpeed(len(finished), total, float(statistics.median(finished)))
