"""The first screen: a folder opened for the first time starts on an image with a finding, and
a dismissible hint shows the five keys of a review."""

from __future__ import annotations

import pytest
from PySide6 import QtCore

from detector.review import BoxKind
from tests.viewer.conftest import open_and_wait
from viewer.review.keys import key_for


def test_first_open_starts_on_the_first_image_with_ground_truth(
    qtbot, make_main_window, study, tmp_path
):
    """As `pneumoview FOLDER --labels` does: p1 has no box, p2 has one -> p2 is shown."""
    from viewer.app import start_review

    labels = tmp_path / "labels.csv"
    labels.write_text(
        "patientId,x,y,width,height,Target\np1,,,,,0\np2,10,20,30,40,1\np3,,,,,0\n",
        encoding="utf-8",
    )
    window = make_main_window()
    window.open_paths([str(study)])
    start_review(window, labels=str(labels), classes=None, model=None)
    qtbot.waitUntil(lambda: not window.is_scanning, timeout=15_000)
    second = window.state.images()[1]
    assert second.name.startswith("p2")
    qtbot.waitUntil(
        lambda: (
            window.review.layers.drawn_xyxy("ground_truth") == [pytest.approx((10, 20, 40, 60))]
        ),
        timeout=15_000,
    )
    assert window.state.current is second and window.review.shown_key() == key_for(second)


def test_demo_opens_on_an_image_with_a_finding(qtbot, make_main_window):
    """`make run`: the first image on screen has a ground-truth box."""
    from viewer.app import demo_inputs, start_review

    paths, recent, labels, classes, _model = demo_inputs([], None, None, None)
    window = make_main_window()
    window.open_paths(paths, recent=recent)
    start_review(window, labels=labels, classes=classes, model=None)
    qtbot.waitUntil(lambda: not window.is_scanning, timeout=30_000)

    def shown_with_truth() -> bool:
        key = window.review.shown_key()
        review = window.review.review
        return key is not None and bool(review.boxes(key, kind=BoxKind.GROUND_TRUTH))

    qtbot.waitUntil(
        lambda: shown_with_truth() and bool(window.review.layers.drawn_xyxy("ground_truth")),
        timeout=15_000,
    )


def test_key_hint_shows_the_five_keys_until_closed(qtbot, make_main_window, study):
    window = make_main_window()
    open_and_wait(qtbot, window, [str(study)])
    hint = window.key_hint
    assert hint.isVisible()
    text = hint.label.text()
    for key, action in (
        ("D", "detect"),
        ("Tab", "select"),
        ("Enter", "accept"),
        ("Delete", "reject"),
        ("Space", "reviewed + next"),
    ):
        assert f"<b>{key}</b> {action}" in text
    qtbot.mouseClick(hint.close_button, QtCore.Qt.MouseButton.LeftButton)
    assert not hint.isVisible()
    window.close()

    again = make_main_window()
    assert not again.key_hint.isVisible()  # remembered in the settings
