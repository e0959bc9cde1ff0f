"""ReviewState: boxes, statuses, events, worklist numbers and undo/redo (no Qt, no store)."""

from __future__ import annotations

import itertools

import pytest

from detector.review import (
    BoxKind,
    BoxStatus,
    ImageStatus,
    ModelInfo,
    ReviewError,
    ReviewState,
)

A = "1.2.3/0"
B = "1.2.4/0"


@pytest.fixture
def state() -> ReviewState:
    ticks = itertools.count(1000)
    st = ReviewState(reviewer="dr_a", clock=lambda: float(next(ticks)))
    st.add_image(A, "pa", path="/d/pa.dcm", sop_instance_uid="1.2.3")
    st.add_image(B, "pb", path="/d/pb.dcm", sop_instance_uid="1.2.4")
    return st


def snapshot(state: ReviewState) -> tuple[object, ...]:
    boxes = tuple((b.id, b.kind, b.xyxy, b.score, b.status, b.origin) for b in state.boxes())
    return boxes, tuple((k, im.status) for k, im in sorted(state.images.items()))


class TestImages:
    def test_add_image_twice_keeps_one(self, state: ReviewState) -> None:
        state.add_image(A, "pa")
        assert list(state.images) == [A, B]
        assert state.keys_for_patient("pa") == [A]

    def test_new_image_is_unreviewed_without_boxes(self, state: ReviewState) -> None:
        assert state.image(A).status is ImageStatus.UNREVIEWED
        assert state.boxes(A) == []
        assert state.progress() == (0, 2)

    def test_add_images_in_one_call(self, state: ReviewState) -> None:
        from detector.files.identity import ImageIdentity

        state.import_ground_truth({}, "labels.csv", {"pc": [(1, 2, 3, 4)]})
        added = state.add_images(
            [
                ImageIdentity("1.2.3/0", "pa", "/moved/pa.dcm", "1.2.3", 0),
                ImageIdentity("1.2.5/0", "pc", "/d/pc.dcm", "1.2.5", 0),
            ]
        )
        assert [im.key for im in added] == ["1.2.3/0", "1.2.5/0"]
        assert state.image(A).path == "/moved/pa.dcm"
        assert [b.xyxy for b in state.boxes("1.2.5/0")] == [(1.0, 2.0, 3.0, 4.0)]
        assert state.pending_truth == {}

    def test_unknown_image_raises(self, state: ReviewState) -> None:
        with pytest.raises(ReviewError, match="no image"):
            state.add_box("nope/0", (0, 0, 1, 1))


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

    def test_no_opacity_clears_findings_and_counts_as_reviewed(self, state: ReviewState) -> None:
        (p,) = state.set_predictions(A, "demo", [((0, 0, 9, 9), 0.9)])
        (gt,) = state.add_ground_truth(A, [(5, 5, 20, 20)], "labels.csv")
        state.mark_no_opacity(A)
        assert state.image(A).status is ImageStatus.NO_OPACITY
        assert state.box(p.id).status is BoxStatus.REJECTED
        assert state.box(gt.id).status is BoxStatus.DELETED
        assert state.progress() == (1, 2)

    def test_mark_reviewed(self, state: ReviewState) -> None:
        state.mark_reviewed(B)
        assert state.image(B).status is ImageStatus.REVIEWED
        assert state.progress() == (1, 2)

    def test_seconds_accumulate(self, state: ReviewState) -> None:
        state.add_seconds(A, 2.5)
        state.add_seconds(A, 1.0)
        state.add_seconds(A, float("nan"))
        assert state.image(A).seconds == pytest.approx(3.5)


class TestQueries:
    def test_boxes_filters(self, state: ReviewState) -> None:
        state.set_predictions(A, "demo", [((0, 0, 9, 9), 0.9), ((20, 20, 29, 29), 0.2)])
        state.add_ground_truth(A, [(5, 5, 20, 20)], "labels.csv")
        assert len(state.boxes(A, kind="prediction")) == 2
        assert len(state.boxes(A, min_score=0.5)) == 2  # the 0.9 one and the GT (no score)
        assert len(state.boxes(kind=[BoxKind.GROUND_TRUTH, BoxKind.REVIEWER])) == 1
        assert state.boxes(A, status=BoxStatus.ACCEPTED) == []

    def test_counts_for_worklist(self, state: ReviewState) -> None:
        state.add_ground_truth(A, [(0, 0, 10, 10), (50, 50, 60, 60)], "labels.csv")
        state.set_predictions(
            A, "demo", [((0, 0, 10, 11), 0.9), ((80, 80, 90, 90), 0.6), ((30, 30, 35, 35), 0.1)]
        )
        c = state.counts(A, threshold=0.5, iou_threshold=0.5)
        # One truth box matched; one truth and one prediction left over.
        assert (c.predictions, c.max_score, c.ground_truth, c.disagreement) == (2, 0.9, 2, 2)
        empty = state.counts(B)
        assert (empty.predictions, empty.max_score, empty.disagreement) == (0, None, 0)

    def test_compare_marks_matched_missed_and_false_positives(self, state: ReviewState) -> None:
        hit, miss = state.add_ground_truth(A, [(0, 0, 10, 10), (50, 50, 60, 60)], "labels.csv")
        good, fp, low = state.set_predictions(
            A, "demo", [((1, 0, 10, 10), 0.9), ((80, 80, 90, 90), 0.6), ((50, 50, 60, 60), 0.1)]
        )
        cmp = state.compare(A, threshold=0.5, iou_threshold=0.5)
        assert cmp.matched == ((hit.id, good.id),)
        assert cmp.missed == (miss.id,)
        assert cmp.false_positives == (fp.id,)
        # IoU of the match is 0.9: at every RSNA IoU threshold TP=1, FP=1, FN=1 -> 1/3.
        assert cmp.rsna_score == pytest.approx(1 / 3)
        # Lowering the threshold lets the low-score box find the missed one.
        assert state.compare(A, threshold=0.0).missed == ()
        assert state.compare(B).matched == () and state.compare(B).rsna_score is None

    def test_rsna_score_per_image(self, state: ReviewState) -> None:
        state.add_ground_truth(A, [(0, 0, 10, 10)], "labels.csv")
        state.set_predictions(A, "demo", [((0, 0, 10, 10), 0.9), ((50, 50, 60, 60), 0.3)])
        # Perfect match alone: TP at every IoU threshold -> 1; with the extra FP -> 1/2.
        assert state.rsna_score(A, threshold=0.5) == pytest.approx(1.0)
        assert state.rsna_score(A, threshold=0.0) == pytest.approx(0.5)
        assert state.rsna_score(B) is None


class TestEvents:
    def test_each_change_emits_its_event(self, state: ReviewState) -> None:
        seen: list[tuple[str, object]] = []
        state.events.box_added.connect(lambda b: seen.append(("added", b.kind)))
        state.events.box_changed.connect(lambda old, new: seen.append(("changed", new.status)))
        state.events.box_removed.connect(lambda b: seen.append(("removed", b.score)))
        state.events.image_changed.connect(lambda im: seen.append(("image", im.status)))
        state.events.predictions_set.connect(lambda k, m: seen.append(("preds", (k, m))))
        (p,) = state.set_predictions(A, "demo", [((0, 0, 9, 9), 0.9)])
        assert ("added", BoxKind.PREDICTION) in seen and ("preds", (A, "demo")) in seen
        seen.clear()
        state.reject(p.id)
        assert seen == [("changed", BoxStatus.REJECTED), ("image", ImageStatus.IN_PROGRESS)]
        seen.clear()
        state.set_predictions(B, "demo", [((0, 0, 9, 9), 0.4)])
        state.set_predictions(B, "demo", [])
        assert ("removed", 0.4) in seen


class TestUndoRedo:
    def test_every_edit_undoes_to_the_previous_state_and_redoes(self, state: ReviewState) -> None:
        p1, p2 = state.set_predictions(A, "demo", [((0, 0, 9, 9), 0.9), ((20, 20, 29, 29), 0.8)])
        (gt,) = state.add_ground_truth(A, [(40, 40, 50, 50)], "labels.csv")
        states = [snapshot(state)]
        drawn = state.add_box(A, (60, 60, 70, 70))
        states.append(snapshot(state))
        for edit in (
            lambda: state.accept(p1.id),
            lambda: state.reject(p2.id),
            lambda: state.move(gt.id, (41, 41, 52, 52)),
            lambda: state.move(drawn.id, (61, 61, 72, 72)),
            lambda: state.delete(drawn.id),
            lambda: state.mark_reviewed(A),
        ):
            edit()
            states.append(snapshot(state))
        for expected in reversed(states[:-1]):
            assert state.undo() is not None
            assert snapshot(state) == expected
        assert state.undo() is None
        for expected in states[1:]:
            assert state.redo() is not None
            assert snapshot(state) == expected
        assert state.redo() is None

    def test_new_edit_clears_redo(self, state: ReviewState) -> None:
        state.add_box(A, (0, 0, 5, 5))
        state.undo()
        assert state.can_redo
        state.add_box(A, (1, 1, 5, 5))
        assert not state.can_redo

    def test_accept_all_is_one_step(self, state: ReviewState) -> None:
        state.set_predictions(A, "demo", [((0, 0, 9, 9), 0.9), ((20, 20, 29, 29), 0.8)])
        before = snapshot(state)
        state.accept_all(A)
        assert len(state.boxes(A, status=BoxStatus.ACCEPTED)) == 2
        assert state.history.undo_label == "accept all"
        state.undo()
        assert snapshot(state) == before
        assert not state.can_undo

    def test_group_makes_one_step_of_several_edits(self, state: ReviewState) -> None:
        before = snapshot(state)
        with state.group("draw two"):
            box = state.add_box(A, (0, 0, 5, 5))
            state.move(box.id, (0, 0, 6, 6))
            state.add_box(B, (1, 1, 5, 5))
        assert state.history.undo_label == "draw two"
        state.undo()
        assert snapshot(state) == before
        state.redo()
        assert state.box(box.id).xyxy == (0.0, 0.0, 6.0, 6.0)
        assert len(state.boxes(B)) == 1

    def test_undo_does_not_overwrite_a_later_model_run(self, state: ReviewState) -> None:
        (p,) = state.set_predictions(A, "demo", [((0, 0, 9, 9), 0.9)])
        state.reject(p.id)
        state.undo()  # p proposed again
        state.set_predictions(A, "demo", [((30, 30, 39, 39), 0.5)])  # replaces p
        state.redo()  # must not bring p back as rejected
        assert p.id not in {b.id for b in state.boxes(A)}

    def test_undo_restores_review_status(self, state: ReviewState) -> None:
        state.mark_no_opacity(B)
        state.undo()
        assert state.image(B).status is ImageStatus.UNREVIEWED


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
