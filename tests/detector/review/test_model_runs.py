"""Model runs and ground truth loaded into a review."""

from __future__ import annotations

import pytest

from detector.review import (
    BoxKind,
    BoxStatus,
    ModelInfo,
    ReviewError,
    ReviewState,
)

A = "1.2.3/0"
B = "1.2.4/0"


class TestPredictions:
    def test_set_predictions_adds_proposals_with_score_and_origin(self, state: ReviewState) -> None:
        new = state.set_predictions(A, "demo", [((10, 10, 50, 60), 0.9), ((70, 5, 90, 30), 0.3)])
        assert [b.score for b in new] == [0.9, 0.3]
        assert {b.kind for b in new} == {BoxKind.PREDICTION}
        assert {b.status for b in new} == {BoxStatus.PROPOSED}
        assert {b.origin for b in new} == {"demo"}
        assert state.image(A).predicted_by == ("demo",)
        assert state.boxes(B) == []

    def test_rerun_replaces_proposals_but_keeps_decisions(self, state: ReviewState) -> None:
        a, b, c = state.set_predictions(
            A, "demo", [((0, 0, 10, 10), 0.9), ((20, 20, 30, 30), 0.8), ((40, 40, 50, 50), 0.7)]
        )
        state.accept(a.id)
        state.reject(b.id)
        other = state.set_predictions(A, "other", [((60, 60, 70, 70), 0.5)])
        rerun = state.set_predictions(
            A, "demo", [((0, 0, 10, 10), 0.9), ((20, 20, 30, 30), 0.8), ((41, 41, 51, 51), 0.6)]
        )
        # The decided boxes are not proposed again; the undecided one is replaced.
        assert [r.xyxy for r in rerun] == [(41.0, 41.0, 51.0, 51.0)]
        ids = {x.id for x in state.boxes(A)}
        assert a.id in ids and b.id in ids and other[0].id in ids and c.id not in ids
        assert state.box(a.id).status is BoxStatus.ACCEPTED
        assert state.box(b.id).status is BoxStatus.REJECTED

    def test_bad_geometry_is_refused(self, state: ReviewState) -> None:
        with pytest.raises(ReviewError, match="x1 > x0"):
            state.set_predictions(A, "demo", [((10, 10, 5, 20), 0.5)])
        with pytest.raises(ReviewError, match="finite"):
            state.add_box(A, (0, 0, float("nan"), 3))


class TestModels:
    def test_add_model_records_it(self, state: ReviewState) -> None:
        state.add_model(ModelInfo("demo", "/m/demo.pt", 0.4, {"arch": "retinanet"}))
        assert state.models["demo"].threshold == 0.4
        assert state.models["demo"].added > 0

    def test_a_second_model_supersedes_the_first_ones_proposals(self, state: ReviewState) -> None:
        state.add_ground_truth(A, [(0, 0, 10, 10)], "labels.csv")
        state.add_model(ModelInfo("first.pt", "/m/first.pt", 0.5))
        state.set_predictions(A, "first.pt", [((0, 0, 10, 10), 0.9), ((50, 50, 60, 60), 0.8)])
        kept = state.set_predictions(A, "first.pt", [((0, 0, 10, 10), 0.9)])[0]
        state.accept(kept.id)  # a decision: it must outlive the model switch
        state.set_predictions(A, "first.pt", [((70, 70, 80, 80), 0.7)])
        assert state.current_model == "first.pt"
        # first.pt: accepted match + one false positive -> 1/2 at every IoU threshold.
        assert state.rsna_score(A, threshold=0.5) == pytest.approx(0.5)

        state.add_model(ModelInfo("second.pt", "/m/second.pt", 0.5))
        state.set_predictions(A, "second.pt", [((30, 30, 40, 40), 0.6)])
        assert state.current_model == "second.pt"
        superseded = [b for b in state.boxes(A) if state.superseded(b)]
        assert [(b.origin, b.xyxy) for b in superseded] == [("first.pt", (70.0, 70.0, 80.0, 80.0))]
        # Scored: the accepted box (a decision, kind REVIEWER) and second.pt's false positive.
        assert state.rsna_score(A, threshold=0.5) == pytest.approx(0.5)
        assert state.counts(A, threshold=0.5).predictions == 2
        assert state.compare(A, threshold=0.5).false_positives == (
            next(b.id for b in state.boxes(A) if b.origin == "second.pt"),
        )

        # Loading the first model again brings its proposals back (nothing was deleted).
        state.add_model(ModelInfo("first.pt", "/m/first.pt", 0.5))
        assert state.current_model == "first.pt"
        assert not any(state.superseded(b) for b in state.boxes(A) if b.origin == "first.pt")
        assert [b.origin for b in state.boxes(A) if state.superseded(b)] == ["second.pt"]
