"""Ground truth against the model on one image: comparison, worklist counts, RSNA score."""

from __future__ import annotations

from collections.abc import Sequence

from detector.review.core import ReviewCore
from detector.review.records import BoxKind, BoxStatus, Comparison, ImageCounts, ReviewBox
from detector.rsna.matching import match_boxes


def comparison_marks(
    truth: Sequence[ReviewBox], preds: Sequence[ReviewBox], iou_threshold: float
) -> dict[str, str]:
    """Box id -> ``"matched"``, ``"missed"`` (ground truth) or ``"false positive"``.

    Matched by :func:`detector.rsna.matching.match_boxes`, the one greedy rule (highest score
    first, each ground-truth box used once) that the worklist counts and the export use too.
    """
    pairs = match_boxes(
        [b.xyxy for b in truth], [(b.score or 0.0, b.xyxy) for b in preds], iou_threshold
    )
    marks = {b.id: "missed" for b in truth} | {b.id: "false positive" for b in preds}
    for p, t in pairs:
        marks[preds[p].id] = marks[truth[t].id] = "matched"
    return marks


class Comparisons(ReviewCore):
    """The comparison queries of :class:`detector.review.state.ReviewState`."""

    def compare(
        self, image: str, *, threshold: float = 0.0, iou_threshold: float = 0.5
    ) -> Comparison:
        """Ground truth vs predictions on one image: matched, missed, false-positive box ids.

        Predictions and ground truth as in :meth:`rsna_score` (which is included); matching is
        greedy, highest score first, at ``iou_threshold``.
        """
        truth, preds = self._truth_and_predictions(image, threshold)
        pairs = match_boxes(
            [b.xyxy for b in truth], [(b.score or 0.0, b.xyxy) for b in preds], iou_threshold
        )
        used_truth = {t for _p, t in pairs}
        used_preds = {p for p, _t in pairs}
        return Comparison(
            matched=tuple((truth[t].id, preds[p].id) for p, t in pairs),
            missed=tuple(b.id for i, b in enumerate(truth) if i not in used_truth),
            false_positives=tuple(b.id for i, b in enumerate(preds) if i not in used_preds),
            rsna_score=self.rsna_score(image, threshold=threshold),
        )

    def _truth_and_predictions(
        self, image: str, threshold: float
    ) -> tuple[list[ReviewBox], list[ReviewBox]]:
        truth = self.boxes(image, kind=BoxKind.GROUND_TRUTH, active=True)
        return truth, self.model_boxes(image, threshold)

    def model_boxes(self, image: str, threshold: float = 0.0) -> list[ReviewBox]:
        """The model's boxes the RSNA score counts on an image: active (proposed, accepted or
        edited, in their current geometry), scoring at least ``threshold``, and not
        :meth:`superseded` by a later model. Scores, comparisons and the submission export use
        this one rule."""
        self.image(image)
        return [
            b
            for b in self.boxes(image, active=True)
            if b.source == "model"
            and b.score is not None
            and b.score >= threshold
            and not self.superseded(b)
        ]

    def confirmations(self, image: str, iou_threshold: float = 0.5) -> dict[str, str]:
        """Ground-truth box id -> id of the accepted prediction that confirms it.

        An accepted prediction (accepted or edited, in its current geometry) confirms an active
        ground-truth box when the one matcher (:func:`detector.rsna.matching.match_boxes`:
        greedy, highest score first, each box used once) pairs them at ``iou_threshold``, the
        compare IoU. The labels export then writes one row for the pair.
        """
        truth = self.boxes(image, kind=BoxKind.GROUND_TRUTH, active=True)
        accepted = [
            b
            for b in self.boxes(
                image, kind=BoxKind.REVIEWER, status=(BoxStatus.ACCEPTED, BoxStatus.EDITED)
            )
            if b.source == "model"
        ]
        pairs = match_boxes(
            [b.xyxy for b in truth], [(b.score or 0.0, b.xyxy) for b in accepted], iou_threshold
        )
        return {truth[t].id: accepted[p].id for p, t in pairs}

    def proposals_of_model(self, image: str, threshold: float = 0.0) -> list[ReviewBox]:
        """Every box the current model proposed on an image with ``score >= threshold``,
        whatever the review did to it (accepted, edited, rejected or deleted too); read
        with :attr:`ReviewBox.proposed_xywh` for the model's own geometry. Without a recorded
        model, the boxes of every model. The submission export uses this rule."""
        self.image(image)
        current = self.current_model
        return [
            b
            for b in self.boxes(image)
            if b.source == "model"
            and b.score is not None
            and b.score >= threshold
            and (current is None or b.origin == current)
        ]

    def counts(
        self, image: str, *, threshold: float = 0.0, iou_threshold: float = 0.5
    ) -> ImageCounts:
        """Worklist numbers: predictions at ``threshold``, max score, GT/prediction disagreement.

        Disagreement is the number of active ground-truth boxes plus model boxes (score >=
        threshold) left unmatched by a greedy highest-score-first matching at ``iou_threshold``.
        """
        truth, preds = self._truth_and_predictions(image, threshold)
        reviewer = self.boxes(image, kind=BoxKind.REVIEWER, active=True)
        matched = len(
            match_boxes(
                [b.xyxy for b in truth], [(b.score or 0.0, b.xyxy) for b in preds], iou_threshold
            )
        )
        return ImageCounts(
            predictions=len(preds),
            max_score=max((b.score for b in preds if b.score is not None), default=None),
            ground_truth=len(truth),
            reviewer=len(reviewer),
            disagreement=len(truth) + len(preds) - 2 * matched,
        )

    def rsna_score(self, image: str, *, threshold: float = 0.0) -> float | None:
        """The RSNA challenge metric of this image's predictions vs its ground truth.

        Predictions are the model's boxes with ``score >= threshold`` that are not rejected
        (proposed, accepted or edited, in their current geometry); the ground truth is the
        active ground-truth boxes. ``None`` when the image has neither (RSNA skips it).
        """
        from detector.rsna.metrics import rsna_image_score

        truth, preds = self._truth_and_predictions(image, threshold)
        return rsna_image_score([b.xywh for b in truth], [(b.score or 0.0, *b.xywh) for b in preds])
