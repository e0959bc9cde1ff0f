"""``pneumoview detect`` end to end with a tiny checkpoint on generated DICOMs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from detector import cli
from detector.checkpoint import save_checkpoint
from detector.commands import detect
from detector.labels import read_labels, read_predictions
from detector.models import build_model
from tests.conftest import chest_like


@pytest.fixture
def tiny_checkpoint(tmp_path: Path) -> Path:
    """A tiny RetinaNet whose untrained head is biased so that it reports boxes."""
    torch.manual_seed(0)
    model = build_model("retinanet", backbone="mobilenet_v3", min_size=64)
    torch.nn.init.constant_(model.head.classification_head.cls_logits.bias, 2.0)
    path = tmp_path / "models" / "tiny.pt"
    save_checkpoint(
        path, model, {"arch": "retinanet", "backbone": "mobilenet_v3", "input_size": 64}
    )
    return path


@pytest.fixture
def folder(tmp_path: Path, make_dicom) -> Path:
    """Three readable images (one JPEG) and two broken files."""
    root = tmp_path / "images"
    make_dicom("p1.dcm", chest_like(96, seed=1), folder=root)
    make_dicom("p2.dcm", chest_like(64, seed=2), jpeg=True, folder=root)
    make_dicom("p3.dcm", chest_like(80, seed=3), folder=root / "sub")
    (root / "broken.dcm").write_bytes(b"\x00" * 300)
    good = (root / "p1.dcm").read_bytes()
    (root / "truncated.dcm").write_bytes(good[: len(good) // 3])
    return root


class TestDetectCommand:
    def test_submission_with_good_and_broken_files(
        self, tiny_checkpoint, folder, tmp_path, capsys
    ) -> None:
        """Good files make a valid submission; broken ones are reported; exit code 1."""
        out = tmp_path / "out" / "sub.csv"
        code = cli.main(
            [
                "detect",
                str(folder),
                "--model",
                str(tiny_checkpoint),
                "--out",
                str(out),
                "--workers",
                "0",
                "--threshold",
                "0.5",
            ]
        )
        err = capsys.readouterr().err
        assert code == 1
        assert "broken.dcm: not a DICOM file" in err
        assert "truncated.dcm: pixel data is shorter than Rows x Columns requires" in err
        preds = read_predictions(out)
        assert preds.problems == []
        assert sorted(preds) == ["p1", "p2", "p3"]
        assert all(preds[pid] for pid in preds)
        for pid, size in {"p1": 96, "p2": 64, "p3": 80}.items():
            for score, x, y, w, h in preds[pid]:
                assert score >= 0.5
                assert 0 <= x and 0 <= y and x + w <= size + 0.01 and y + h <= size + 0.01
        assert [p.name for p in out.parent.iterdir()] == ["sub.csv"]

    def test_labels_format_with_workers(self, tiny_checkpoint, folder, tmp_path) -> None:
        """--format labels with decoding workers: the RSNA labels columns plus score."""
        out = tmp_path / "labels.csv"
        code = cli.main(
            [
                "detect",
                str(folder / "p1.dcm"),
                str(folder / "p2.dcm"),
                "--model",
                str(tiny_checkpoint),
                "--out",
                str(out),
                "--format",
                "labels",
                "--workers",
                "2",
                "--batch-size",
                "1",
            ]
        )
        assert code == 0
        header = next(csv.reader(out.open(encoding="utf-8")))
        assert header == ["patientId", "x", "y", "width", "height", "Target", "score"]
        labels = read_labels(out)
        assert set(labels.boxes) == {"p1", "p2"}
        assert labels.scores is not None

    def test_high_threshold_gives_empty_prediction_strings(
        self, tiny_checkpoint, folder, tmp_path
    ) -> None:
        """Images without findings at the threshold still get a row (empty PredictionString)."""
        out = tmp_path / "sub.csv"
        cli.main(
            [
                "detect",
                str(folder / "p1.dcm"),
                "--model",
                str(tiny_checkpoint),
                "--out",
                str(out),
                "--threshold",
                "1.0",
                "--workers",
                "0",
            ]
        )
        assert out.read_text(encoding="utf-8").splitlines() == ["patientId,PredictionString", "p1,"]

    def test_missing_input_path(self, tiny_checkpoint, folder, tmp_path, capsys) -> None:
        """A path that does not exist is reported and the rest is processed."""
        out = tmp_path / "sub.csv"
        code = cli.main(
            [
                "detect",
                str(folder / "p1.dcm"),
                str(tmp_path / "nope.dcm"),
                "--model",
                str(tiny_checkpoint),
                "--out",
                str(out),
                "--workers",
                "0",
            ]
        )
        assert code == 1
        assert "nope.dcm: file not found" in capsys.readouterr().err
        assert set(read_predictions(out)) == {"p1"}

    def test_bad_checkpoint(self, folder, tmp_path, capsys) -> None:
        """An unusable --model names the file and writes nothing."""
        bad = tmp_path / "bad.pt"
        bad.write_bytes(b"PK\x03\x04 not really a zip")
        out = tmp_path / "sub.csv"
        code = cli.main(["detect", str(folder), "--model", str(bad), "--out", str(out)])
        assert code == 1
        assert "bad.pt: truncated or corrupt file" in capsys.readouterr().err
        assert not out.exists()

    def test_no_model_and_no_demo_is_a_usage_error(
        self, folder, tmp_path, monkeypatch, capsys
    ) -> None:
        """Without --model and without the demo checkpoint: exit 2 with a clear message."""
        monkeypatch.setattr(detect, "default_model_path", lambda: tmp_path / "none" / "demo.pt")
        code = cli.main(["detect", str(folder), "--out", str(tmp_path / "s.csv")])
        assert code == 2
        assert "demo model" in capsys.readouterr().err

    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            (["--threshold", "1.5"], "--threshold must be in"),
            (["--batch-size", "0"], "--batch-size must be >= 1"),
            (["--device", "quantum"], "unknown device"),
        ],
    )
    def test_bad_options(self, tiny_checkpoint, folder, tmp_path, capsys, extra, message) -> None:
        """Bad option values are usage errors (exit 2)."""
        code = cli.main(
            [
                "detect",
                str(folder),
                "--model",
                str(tiny_checkpoint),
                "--out",
                str(tmp_path / "s.csv"),
                *extra,
            ]
        )
        assert code == 2
        assert message in capsys.readouterr().err


class TestMergeParts:
    def test_parts_merge_in_input_order_without_repeats(self, tmp_path: Path) -> None:
        """Rank parts (with the sampler's padding repeat) merge into input order, once each."""

        def rec(i: int) -> dict:
            return {
                "index": i,
                "source": f"f{i}",
                "image_id": f"f{i}",
                "image_size": [8, 8],
                "error": None,
                "detections": [],
            }

        p0 = detect.part_path(tmp_path / "out.csv", 0, 2)
        p1 = detect.part_path(tmp_path / "out.csv", 1, 2)
        detect.write_part(p0, [rec(0), rec(2), rec(4)])
        detect.write_part(p1, [rec(1), rec(3), rec(0)])
        merged = detect.merge_parts([p0, p1])
        assert [r["index"] for r in merged] == [0, 1, 2, 3, 4]
        assert p0.name == ".out.csv.part0-of-2.jsonl"
