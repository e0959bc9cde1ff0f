"""ReviewCore: box queries, events, undo/redo (no Qt, no store)."""

from __future__ import annotations

from detector.review import (
    BoxKind,
    BoxStatus,
    ImageStatus,
    ReviewState,
)

A = "1.2.3/0"
B = "1.2.4/0"


def snapshot(state: ReviewState) -> tuple[object, ...]:
    boxes = tuple((b.id, b.kind, b.xyxy, b.score, b.status, b.origin) for b in state.boxes())
    return boxes, tuple((k, im.status) for k, im in sorted(state.images.items()))


class TestQueries:
    def test_boxes_filters(self, state: ReviewState) -> None:
        state.set_predictions(A, "demo", [((0, 0, 9, 9), 0.9), ((20, 20, 29, 29), 0.2)])
        state.add_ground_truth(A, [(5, 5, 20, 20)], "labels.csv")
        assert len(state.boxes(A, kind="prediction")) == 2
        assert len(state.boxes(A, min_score=0.5)) == 2  # the 0.9 one and the GT (no score)
        assert len(state.boxes(kind=[BoxKind.GROUND_TRUTH, BoxKind.REVIEWER])) == 1
        assert state.boxes(A, status=BoxStatus.ACCEPTED) == []


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
