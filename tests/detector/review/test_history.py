"""History: which images the next undo / redo step changes, seen before it is applied (no Qt)."""

from __future__ import annotations

from detector.review import ReviewState

A = "1.2.3/0"
B = "1.2.4/0"


class TestPeek:
    def test_peek_names_the_image_and_leaves_the_step(self, state: ReviewState) -> None:
        state.add_box(A, (1, 1, 10, 10))
        state.mark_no_opacity(B)
        step = state.history.peek_undo()
        assert step is not None and step.label == "mark no opacity"
        assert step.image_keys() == [B]
        assert state.history.peek_undo() is step  # not popped
        assert state.undo() == "mark no opacity"
        assert state.history.peek_redo() is step
        assert state.history.peek_undo().image_keys() == [A]  # type: ignore[union-attr]

    def test_nothing_to_peek(self, state: ReviewState) -> None:
        assert state.history.peek_undo() is None
        assert state.history.peek_redo() is None

    def test_a_box_step_names_its_image_once(self, state: ReviewState) -> None:
        state.set_predictions(A, "m", [((0, 0, 9, 9), 0.9), ((20, 20, 29, 29), 0.8)])
        state.accept_all(A)
        step = state.history.peek_undo()
        assert step is not None and step.image_keys() == [A]
