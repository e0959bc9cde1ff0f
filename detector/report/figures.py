"""The numbers of the reading report, from a review session (no Qt, no plotting).

Three label sets are compared on the finished images (reviewed or "no opacity"):

reader
    the reviewed labels, as the labels export writes them (one box per lesion);
model
    what the current model proposed at its threshold (its own geometry and scores, whatever
    the reader did to the boxes);
original
    the ground truth as imported (every ground-truth box, the ones the reader removed too);
    only when the session has ground truth at all.

Each pair is scored with the RSNA metric, per image and overall (the mean over the images
not skipped), and the images are compared by their decision (positive: at least one box).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from detector.review.export import default_threshold, lesion_boxes
from detector.review.reading_speed import ReadingSpeed, reading_speed
from detector.review.records import DONE_STATUSES, BoxKind, ImageReview
from detector.review.state import ReviewState
from detector.rsna.metrics import rsna_image_score, rsna_map

XYWH = tuple[float, float, float, float]
#: The label sets compared, and the pairs (truth, prediction) scored.
PAIRS: tuple[tuple[str, str], ...] = (
    ("reader", "model"),
    ("original", "model"),
    ("original", "reader"),
)
#: Log actions that load boxes (model runs, ground-truth imports): not edits by the reader.
LOAD_ACTIONS = ("predictions ", "import ")


@dataclass(frozen=True)
class ImageRow:
    """One finished image: its labels' box counts and the RSNA score of each pair."""

    patient_id: str
    status: str
    seconds: float
    note: str
    boxes: dict[str, int]
    scores: dict[tuple[str, str], float | None]

    def positive(self, which: str) -> bool:
        return self.boxes.get(which, 0) > 0


@dataclass
class ReportNumbers:
    """Everything the report shows about one session."""

    images: int = 0
    finished: int = 0
    speed: ReadingSpeed | None = None
    #: ``(hours since the first finished image, seconds on screen)`` per finished image.
    pace: list[tuple[float, float]] = field(default_factory=list)
    #: Edits per box -> number of boxes (boxes of finished images).
    edits_per_box: dict[int, int] = field(default_factory=dict)
    has_original: bool = False
    has_model: bool = False
    model: str = ""
    threshold: float = 0.5
    rows: list[ImageRow] = field(default_factory=list)
    overall: dict[tuple[str, str], float | None] = field(default_factory=dict)
    agreement: dict[tuple[str, str], float | None] = field(default_factory=dict)

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """The pairs that can be compared in this session."""
        have = {"reader", *(["model"] if self.has_model else [])}
        have |= {"original"} if self.has_original else set()
        return [p for p in PAIRS if set(p) <= have]


def _label_sets(
    state: ReviewState, image: ImageReview, threshold: float
) -> dict[str, list[tuple[float, ...]]]:
    """``name -> [(score, x, y, w, h), ...]`` of the three label sets on one image."""
    Row = tuple[float, ...]
    reader: list[Row] = [
        (1.0 if s is None else s, *xywh) for xywh, s in lesion_boxes(state, image.key)
    ]
    model: list[Row] = [
        (b.score or 0.0, *b.proposed_xywh)
        for b in state.proposals_of_model(image.key, threshold)
        if b.origin == state.current_model
    ]
    original: list[Row] = [
        (1.0, *b.xywh) for b in state.boxes(image.key, kind=BoxKind.GROUND_TRUTH)
    ]
    return {"reader": reader, "model": model, "original": original}


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def edits_per_box(log: Sequence[Mapping[str, object]], boxes: set[str]) -> dict[int, int]:
    """How many of ``boxes`` the reader changed 0, 1, 2... times (loads are not edits)."""
    per_box: Counter[str] = Counter()
    for entry in log:
        box, action = str(entry.get("box", "")), str(entry.get("action", ""))
        if box in boxes and not action.startswith(LOAD_ACTIONS):
            per_box[box] += 1
    counts = Counter(per_box[b] for b in boxes)
    return dict(sorted(counts.items()))


def report_numbers(state: ReviewState, log: Sequence[Mapping[str, object]]) -> ReportNumbers:
    """The report's numbers for a session and its edit log (:meth:`SessionStore.read_log`)."""
    images = sorted(state.images.values(), key=lambda im: (im.modified, im.key))
    finished = [im for im in images if im.status in DONE_STATUSES]
    out = ReportNumbers(images=len(images), finished=len(finished))
    out.speed = reading_speed(images)
    timed = [im for im in finished if im.seconds > 0 and math.isfinite(im.modified)]
    if timed:
        start = timed[0].modified - timed[0].seconds
        out.pace = [((im.modified - start) / 3600.0, im.seconds) for im in timed]
    out.has_original = bool(state.boxes(kind=BoxKind.GROUND_TRUTH))
    out.model = state.current_model or ""
    out.has_model = bool(out.model)
    out.threshold = default_threshold(state)
    boxes = {b.id for im in finished for b in state.boxes(im.key)}
    out.edits_per_box = edits_per_box(log, boxes)
    sets: dict[str, dict[str, list[tuple[float, ...]]]] = {}
    for im in finished:
        labels = _label_sets(state, im, out.threshold)
        sets[im.key] = labels
        scores = {
            (t, p): rsna_image_score([r[1:] for r in labels[t]], labels[p]) for t, p in out.pairs
        }
        out.rows.append(
            ImageRow(
                im.patient_id,
                im.status.value,
                im.seconds,
                im.note,
                {name: len(rows) for name, rows in labels.items()},
                scores,
            )
        )
    for t, p in out.pairs:
        truth = {k: [r[1:] for r in v[t]] for k, v in sets.items()}
        preds = {k: v[p] for k, v in sets.items()}
        value = rsna_map(truth, preds) if truth else math.nan
        out.overall[(t, p)] = None if math.isnan(value) else value
        same = [row.positive(t) == row.positive(p) for row in out.rows]
        out.agreement[(t, p)] = _mean([float(s) for s in same])
    return out
