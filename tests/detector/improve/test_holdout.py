"""The Improve holdout: patient-level, deterministic, at least 10 images, clear when too few."""

from __future__ import annotations

import pytest

from detector.improve.holdout import TooFewImagesError, holdout_size, needed_images, split_holdout
from detector.training.records import ImageRecord


def _records(patients: int, per_patient: int = 2) -> list[ImageRecord]:
    """``patients`` patients with ``per_patient`` images each; every third patient positive."""
    out = []
    for p in range(patients):
        for i in range(per_patient):
            boxes = [(10.0, 10.0, 20.0, 20.0)] if p % 3 == 0 else []
            out.append(ImageRecord(f"p{p}_{i}", f"/x/p{p}_{i}.dcm", boxes, 96, 96, f"P{p}"))
    return out


def test_holdout_is_patient_level_and_deterministic() -> None:
    """No patient is on both sides; the same seed gives the same split, run after run."""
    records = _records(30, per_patient=2)  # 60 images
    first = split_holdout(records, 0.2, seed=0)
    again = split_holdout(records, 0.2, seed=0)
    assert [r.image_id for r in first.held_out] == [r.image_id for r in again.held_out]
    held_groups = {r.group for r in first.held_out}
    assert held_groups.isdisjoint({r.group for r in first.train})
    assert len(first.held_out) == 12  # ceil(0.2 * 60), whole patients of 2 images
    assert len(first.train) + len(first.held_out) == 60
    assert any(r.positive for r in first.held_out) and any(not r.positive for r in first.held_out)


def test_holdout_has_at_least_ten_images() -> None:
    """20% of 25 images is 5: the holdout still gets 10."""
    split = split_holdout(_records(25, per_patient=1), 0.2)
    assert len(split.held_out) == 10
    assert len(split.train) == 15
    assert holdout_size(25) == 10 and holdout_size(100) == 20


def test_too_few_reviewed_images_says_how_many_more() -> None:
    with pytest.raises(TooFewImagesError) as info:
        split_holdout(_records(19, per_patient=1), 0.2, source="read.sqlite")
    assert str(info.value) == (
        "read.sqlite: 19 usable reviewed image(s); Improve needs at least 20 (10 to train on "
        "and 10 held out to compare the models on): review 1 more"
    )
    assert needed_images(0.2) == 20
    assert needed_images(0.6) == 25  # 15 held out + 10 to train


def test_one_big_patient_cannot_be_split() -> None:
    """15 images of one patient, 6 of another: holding out either leaves too few to train on."""
    records = _records(1, per_patient=15) + [
        ImageRecord(f"q{i}", f"/x/q{i}.dcm", [], 96, 96, "Q") for i in range(6)
    ]
    with pytest.raises(TooFewImagesError, match="review images of more patients"):
        split_holdout(records, 0.2, source="s.sqlite")
