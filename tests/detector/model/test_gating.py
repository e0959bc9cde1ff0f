"""Image-level gating and its choice on validation predictions."""

from __future__ import annotations

import random
import statistics

import pytest

from detector.model.gating import Gate, choose_gate, gate_predictions, split_half
from detector.rsna.metrics import rsna_map

BOX = (100.0, 100.0, 80.0, 120.0)


def test_gate_keeps_nothing_below_the_image_threshold() -> None:
    rows = [(0.4, *BOX), (0.3, *BOX)]
    assert Gate(0.2, 0.5, None).apply(rows) == []
    assert len(Gate(0.2, 0.35, None).apply(rows)) == 2  # best 0.4 opens the image


def test_gate_caps_the_boxes_best_first() -> None:
    rows = [(0.5, *BOX), (0.9, *BOX), (0.7, *BOX)]
    kept = Gate(0.6, 0.0, 1).apply(rows)
    assert [r[0] for r in kept] == [0.9]
    assert [r[0] for r in Gate(0.6).apply(rows)] == [0.9, 0.7]


def test_gate_round_trips_through_checkpoint_meta() -> None:
    gate = Gate(0.35, 0.6, 2)
    assert Gate.from_meta(gate.as_meta()) == gate
    # Missing values give a plain threshold.
    assert Gate.from_meta({"threshold": 0.4}) == Gate(0.4, 0.0, None)
    assert Gate.from_meta({"image_threshold": None, "max_boxes": None}) == Gate(0.5, 0.0, None)


@pytest.mark.parametrize(
    ("meta", "reason"),
    [
        ({"image_threshold": 5.0}, r"image_threshold must be a number in \[0, 1\], not 5.0"),
        ({"image_threshold": "abc"}, r"image_threshold must be a number in \[0, 1\], not 'abc'"),
        ({"threshold": "x"}, r"threshold must be a number in \[0, 1\], not 'x'"),
        ({"threshold": float("inf")}, r"threshold must be a number in \[0, 1\], not inf"),
        ({"max_boxes": float("nan")}, r"max_boxes must be a whole number in 1..1000 .*not nan"),
        ({"max_boxes": -3}, r"max_boxes must be a whole number in 1..1000 .*not -3"),
        ({"max_boxes": 0}, r"max_boxes .*not 0"),
        ({"max_boxes": True}, r"max_boxes .*not True"),
        ({"max_boxes": 10**30}, r"max_boxes .*not an integer of 100 bits"),
    ],
)
def test_a_tampered_gate_is_refused_not_replaced(meta: dict, reason: str) -> None:
    """A present but unusable gate value is a ValueError naming the field, never a default."""
    with pytest.raises(ValueError, match=f"^{reason}$"):
        Gate.from_meta({"threshold": 0.4, **meta})


def test_choose_gate_finds_the_separating_threshold() -> None:
    """Positives: an exact box at 0.8; negatives: a false box at 0.3 -> a threshold in
    (0.3, 0.8] scores 1.0 and the sweep finds it."""
    truth = {f"p{i}": [BOX] for i in range(5)} | {f"n{i}": [] for i in range(15)}
    preds = {f"p{i}": [(0.8, *BOX)] for i in range(5)} | {f"n{i}": [(0.3, *BOX)] for i in range(15)}
    gate, metrics = choose_gate(truth, preds)
    assert 0.3 < gate.box_threshold <= 0.8
    assert metrics["rsna_map"] == pytest.approx(1.0)
    assert rsna_map(truth, gate_predictions(preds, gate)) == pytest.approx(1.0)


def test_choose_gate_needs_the_image_gate_when_it_helps() -> None:
    """Positives: the true box at 0.9 and a false extra at 0.7; negatives: a lone false box
    at 0.5. A threshold in (0.5, 0.7] drops the negatives but keeps the extras; a cap of one
    box (or a threshold above 0.7) scores 1.0, and the sweep finds such a setting."""
    truth = {f"p{i}": [BOX] for i in range(6)} | {f"n{i}": [] for i in range(10)}
    far = (600.0, 600.0, 50.0, 50.0)
    preds = {f"p{i}": [(0.9, *BOX), (0.7, *far)] for i in range(6)}
    preds |= {f"n{i}": [(0.5, *far)] for i in range(10)}
    plain, plain_m = choose_gate(truth, preds, image_thresholds=(), max_boxes=(None,))
    gated, gated_m = choose_gate(truth, preds)
    assert gated_m["rsna_map"] == pytest.approx(1.0)
    assert gated.max_boxes == 1 or gated.box_threshold > 0.7
    assert plain_m["rsna_map"] <= gated_m["rsna_map"]


def test_choose_gate_agrees_with_the_metric_on_random_predictions() -> None:
    """The fast prefix sweep reports what metrics.rsna_map measures on the gated rows."""
    rng = random.Random(3)
    truth = {f"i{i}": ([BOX] if i % 4 == 0 else []) for i in range(120)}
    preds = {
        k: [
            (rng.random(), 100 + rng.gauss(0, 20), 100.0, 80.0, 120.0)
            for _ in range(rng.randint(0, 6))
        ]
        for k in truth
    }
    gate, metrics = choose_gate(truth, preds)
    assert metrics["rsna_map"] == pytest.approx(rsna_map(truth, gate_predictions(preds, gate)))
    # And no gate of a coarse independent grid beats it.
    for box_t in (0.2, 0.4, 0.6, 0.8):
        for cap in (None, 1, 2):
            other = rsna_map(truth, gate_predictions(preds, Gate(box_t, 0.0, cap)))
            assert other <= metrics["rsna_map"] + 1e-9


def test_split_half_is_exact_when_the_scores_separate_the_images() -> None:
    """Every half finds a separating threshold that also works on the other half -> 1.0."""
    truth = {f"p{i}": [BOX] for i in range(8)} | {f"n{i}": [] for i in range(24)}
    preds = {f"p{i}": [(0.8, *BOX)] for i in range(8)} | {f"n{i}": [(0.3, *BOX)] for i in range(24)}
    assert split_half(truth, preds)["rsna_map"] == pytest.approx(1.0)


def test_split_half_is_below_the_in_sample_score_when_scores_are_noise() -> None:
    """Scores unrelated to the truth (one fixed sample): the in-sample sweep fits the noise with
    threshold 0.15, the halves cannot (the reason calibrate stores both). A gate chosen on the
    half it is scored on would give the in-sample number back."""
    rng = random.Random(4)
    truth = {f"p{i}": [BOX] for i in range(30)} | {f"n{i}": [] for i in range(90)}
    preds = {k: [(round(rng.uniform(0.1, 0.9), 3), *BOX)] for k in truth}
    _gate, in_sample = choose_gate(truth, preds)
    held_out = split_half(truth, preds)["rsna_map"]
    assert held_out < in_sample["rsna_map"]


def test_split_half_averages_out_the_halving_lottery() -> None:
    """Scores that only loosely follow the truth: which images land in which half decides which
    gate wins, so single halvings scatter; the mean of 20 halvings scatters far less (a
    parameter that was ignored would scatter as much)."""
    rng = random.Random(11)
    truth = {f"p{i}": [BOX] for i in range(30)} | {f"n{i}": [] for i in range(90)}
    preds = {
        k: [(round(min(0.95, max(0.05, rng.gauss(0.55 if b else 0.4, 0.2))), 3), *BOX)]
        for k, b in truth.items()
    }
    single = [split_half(truth, preds, seed=s)["rsna_map"] for s in range(10)]
    averaged = [split_half(truth, preds, seed=100 * s, halvings=20)["rsna_map"] for s in range(10)]
    assert statistics.stdev(single) > 0.01  # the lottery is real on this data
    assert statistics.stdev(averaged) < statistics.stdev(single) / 2


def test_split_half_refuses_zero_halvings() -> None:
    with pytest.raises(ValueError, match="halvings"):
        split_half({"p": [BOX]}, {"p": [(0.9, *BOX)]}, halvings=0)
