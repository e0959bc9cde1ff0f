"""The patient-level holdout of an Improve job: deterministic, stratified, at least 10 images.

All images of one patient (:attr:`ImageRecord.group`: the DICOM PatientID, else the image id)
land on the same side. Patients are put in a fixed order by a hash of ``seed`` and their id
(the same session and seed always give the same holdout, on any machine), positives and
negatives apart, and taken in that order until the holdout has its share of images of each
kind: ``max(MIN_HOLDOUT, ceil(fraction * images))`` in all.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from detector.errors import PneumoViewError
from detector.training.records import ImageRecord

DEFAULT_FRACTION = 0.2
#: The fewest images the old and the new model are compared on.
MIN_HOLDOUT = 10
#: The fewest images fine-tuning runs on.
MIN_TRAIN = 10


class TooFewImagesError(PneumoViewError):
    """The session has too few reviewed images; the reason says how many more are needed."""


@dataclass
class Holdout:
    """The two sides of the split (records in the session's order)."""

    train: list[ImageRecord]
    held_out: list[ImageRecord]


def holdout_size(images: int, fraction: float = DEFAULT_FRACTION) -> int:
    """Images held out of ``images``: ``max(MIN_HOLDOUT, ceil(fraction * images))``."""
    return max(MIN_HOLDOUT, math.ceil(fraction * images - 1e-9))


def needed_images(fraction: float = DEFAULT_FRACTION) -> int:
    """The fewest reviewed images a job can start with at ``fraction``."""
    n = MIN_HOLDOUT + MIN_TRAIN
    while n - holdout_size(n, fraction) < MIN_TRAIN:
        n += 1
    return n


def _order(seed: int, group: str) -> str:
    return hashlib.sha256(f"{seed}:{group}".encode()).hexdigest()


def split_holdout(
    records: Sequence[ImageRecord],
    fraction: float = DEFAULT_FRACTION,
    *,
    seed: int = 0,
    source: str = "",
) -> Holdout:
    """Split ``records`` into training and holdout images, patient by patient.

    Raises
    ------
    ValueError
        ``fraction`` outside (0, 1).
    TooFewImagesError
        Fewer images than :func:`needed_images` (or one patient holds nearly all of them);
        ``source`` (the session file) names the file in the message.
    """
    if not (math.isfinite(fraction) and 0.0 < fraction < 1.0):
        raise ValueError(f"the holdout fraction must be in (0, 1), not {fraction}")
    need = needed_images(fraction)
    if len(records) < need:
        raise TooFewImagesError(
            source,
            f"{len(records)} usable reviewed image(s); Improve needs at least {need} "
            f"({MIN_TRAIN} to train on and {holdout_size(need, fraction)} held out to compare "
            f"the models on): review {need - len(records)} more",
        )
    groups: dict[str, list[ImageRecord]] = {}
    for rec in records:
        groups.setdefault(rec.group, []).append(rec)
    target = holdout_size(len(records), fraction)
    positives = sum(1 for r in records if r.positive)
    want_pos = round(target * positives / len(records))
    if positives and not want_pos:
        want_pos = 1
    pos_groups = sorted(
        (g for g, rs in groups.items() if any(r.positive for r in rs)),
        key=lambda g: _order(seed, g),
    )
    neg_groups = sorted(
        (g for g, rs in groups.items() if not any(r.positive for r in rs)),
        key=lambda g: _order(seed, g),
    )
    chosen: list[str] = []
    count = 0
    pos_taken = 0
    for g in pos_groups:
        if pos_taken >= want_pos:
            break
        chosen.append(g)
        pos_taken += len(groups[g])
        count += len(groups[g])
    rest = [g for g in neg_groups] + [g for g in pos_groups if g not in chosen]
    for g in rest:
        if count >= target:
            break
        chosen.append(g)
        count += len(groups[g])
    held = set(chosen)
    train = [r for r in records if r.group not in held]
    held_out = [r for r in records if r.group in held]
    if len(train) < MIN_TRAIN:
        raise TooFewImagesError(
            source,
            f"{len(records)} usable reviewed image(s) of {len(groups)} patient(s): a "
            f"patient-level holdout of {target} image(s) leaves {len(train)} to train on "
            f"(at least {MIN_TRAIN} needed): review images of more patients",
        )
    return Holdout(train, held_out)
