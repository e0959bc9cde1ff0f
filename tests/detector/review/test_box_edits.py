"""Box edits: accept, reject, delete, move, draw."""

from __future__ import annotations

import pytest

from detector.review import (
    BoxKind,
    BoxStatus,
    ImageStatus,
    ReviewError,
    ReviewState,
)

A = "1.2.3/0"
B = "1.2.4/0"


class TestEdits:
    def test_accept_turns_prediction_into_reviewer_box_keeping_origin_and_score(
        self, state: ReviewState
    ) -> None:
        (p,) = state.set_predictions(A, "demo", [((1, 2, 30, 40), 0.77)])
        acc = state.accept(p.id)
        assert acc.id == p.id
        assert acc.kind is BoxKind.REVIEWER
        assert acc.status is BoxStatus.ACCEPTED
        assert (acc.origin, acc.score, acc.xyxy) == ("demo", 0.77, (1.0, 2.0, 30.0, 40.0))
        assert acc.source == "model"
        assert acc.author == "dr_a" and acc.modified > p.modified
        assert state.image(A).status is ImageStatus.IN_PROGRESS
        assert state.image(A).edits == 1

    def test_accept_refuses_non_predictions(self, state: ReviewState) -> None:
        box = state.add_box(A, (0, 0, 5, 5))
        with pytest.raises(ReviewError, match="not a prediction"):
            state.accept(box.id)

    def test_accept_all_above_threshold(self, state: ReviewState) -> None:
        state.set_predictions(A, "demo", [((0, 0, 9, 9), 0.9), ((20, 20, 29, 29), 0.2)])
        accepted = state.accept_all(A, threshold=0.5)
        assert [b.score for b in accepted] == [0.9]
        assert [b.score for b in state.boxes(A, kind=BoxKind.PREDICTION)] == [0.2]

    def test_delete_rejects_prediction_and_deletes_others(self, state: ReviewState) -> None:
        (p,) = state.set_predictions(A, "demo", [((0, 0, 9, 9), 0.9)])
        (gt,) = state.add_ground_truth(A, [(5, 5, 20, 20)], "labels.csv")
        drawn = state.add_box(A, (30, 30, 40, 40))
        assert state.delete(p.id).status is BoxStatus.REJECTED
        assert state.delete(gt.id).status is BoxStatus.DELETED
        assert state.delete(drawn.id).status is BoxStatus.DELETED
        assert state.boxes(A, active=True) == []

    def test_move_sets_final_geometry_and_status(self, state: ReviewState) -> None:
        (gt,) = state.add_ground_truth(A, [(5, 5, 20, 20)], "labels.csv")
        drawn = state.add_box(A, (30, 30, 40, 40))
        (p,) = state.set_predictions(A, "demo", [((0, 0, 9, 9), 0.9)])
        assert state.move(gt.id, (6, 6, 21, 22)).status is BoxStatus.EDITED
        assert state.move(drawn.id, (31, 30, 40, 40)).status is BoxStatus.ADDED
        moved = state.move(p.id, (1, 1, 10, 10))
        assert (moved.kind, moved.status, moved.score) == (BoxKind.REVIEWER, BoxStatus.EDITED, 0.9)
        assert state.box(gt.id).xyxy == (6.0, 6.0, 21.0, 22.0)
