"""The pace of a reading: images per hour and the median seconds per finished image."""

from __future__ import annotations

import pytest

from detector.review import ImageReview, ImageStatus
from detector.review.reading_speed import reading_speed

DONE = ImageStatus.REVIEWED


class TestReadingSpeed:
    def test_images_per_hour_and_median(self) -> None:
        images = [
            ImageReview("a", "pa", status=DONE, seconds=20.0),
            ImageReview("b", "pb", status=ImageStatus.NO_OPACITY, seconds=40.0),
            ImageReview("c", "pc", status=DONE, seconds=90.0),
            ImageReview("d", "pd", status=ImageStatus.IN_PROGRESS, seconds=30.0),
        ]
        speed = reading_speed(images)
        assert speed is not None
        # 3 finished images in 180 s of reading (the unfinished image's 30 s count) -> 60/h.
        assert (speed.images, speed.seconds, speed.median_seconds) == (3, 180.0, 40.0)
        assert speed.images_per_hour == pytest.approx(60.0)
        assert speed.text() == "60 images/h, median 40 s/image"

    def test_even_count_median_is_the_mean_of_the_middle_two(self) -> None:
        images = [ImageReview(k, k, status=DONE, seconds=s) for k, s in (("a", 10.0), ("b", 30.0))]
        speed = reading_speed(images)
        assert speed is not None and speed.median_seconds == 20.0
        assert speed.images_per_hour == pytest.approx(180.0)

    def test_none_before_an_image_is_finished(self) -> None:
        assert reading_speed([]) is None
        assert reading_speed([ImageReview("a", "pa", seconds=50.0)]) is None
        # Finished without time on screen (marked from a list): no pace to show.
        assert reading_speed([ImageReview("a", "pa", status=DONE, seconds=0.0)]) is None
