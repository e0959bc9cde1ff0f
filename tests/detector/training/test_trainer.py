"""Training on tiny phantoms (CPU, tiny models): loss, checkpoints, resume, fine-tune, bad data."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from detector import cli
from detector.imaging.dicom_write import new_image_dataset, save_dataset
from detector.model.build import build_model
from detector.model.checkpoint import CheckpointError, load_checkpoint, load_model
from detector.model.inference import Detector
from detector.rsna.labels import LabelsError
from detector.synth.phantoms import synthesize
from detector.training.checkpointing import half_weights
from detector.training.config import TrainConfig, sibling
from detector.training.datasets import DetectionDataset, collate
from detector.training.engine import predict_dataset, score, train_one_epoch
from detector.training.records import ImageRecord, load_records
from detector.training.trainer import train

SIZE = 64


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten 96 px phantoms (half positive) with their labels."""
    folder = tmp_path_factory.mktemp("phantoms")
    synthesize(folder, 10, size=96, seed=9)
    return folder


def _config(phantoms: Path, out: Path, **overrides: object) -> TrainConfig:
    options: dict = {
        "images": str(phantoms),
        "labels": str(phantoms / "labels.csv"),
        "classes": str(phantoms / "class_info.csv"),
        "out": str(out),
        "backbone": "mobilenet_v3",
        "input_size": SIZE,
        "epochs": 1,
        "batch_size": 4,
        "lr": 1e-3,
        "augment": "none",
        "val_fraction": 0.2,
        "workers": 0,
        "progress": False,
    }
    options.update(overrides)
    return TrainConfig(**options)  # type: ignore[arg-type]


class TestTrainOneEpoch:
    def test_loss_goes_down(self, phantoms: Path) -> None:
        """A few passes over the same phantoms lower the training loss."""
        torch.manual_seed(0)
        records, _ = load_records(phantoms, phantoms / "labels.csv")
        loader = DataLoader(
            DetectionDataset(records[:4], input_size=SIZE), batch_size=4, collate_fn=collate
        )
        model = build_model("retinanet", backbone="mobilenet_v3", min_size=SIZE)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        losses = [
            train_one_epoch(model, optimizer, loader, torch.device("cpu"), epoch=e).loss
            for e in range(1, 9)
        ]
        assert losses[-1] < 0.7 * losses[0], losses

    def test_predictions_are_in_original_pixels(self, tmp_path: Path) -> None:
        """A box found at the model's half size comes back in the original image's pixels.

        The 128 px image has a bright square at x 40..80, y 20..60; at input size 64 the model
        sees it at x 20..40, y 10..30, and that is the box :class:`_BrightSquareFinder`
        returns. Scaled back (x2) it is the square itself: (40, 20, 40, 40) as x, y, w, h.
        The tolerance of 0.5 px (a quarter of one model pixel) only absorbs float rounding: the
        square's edges fall on even pixels, so halving the image keeps them sharp. Without
        the scale-back the box would be (20, 10, 20, 20).
        """
        bright = np.zeros((128, 128), dtype=np.uint8)
        bright[20:60, 40:80] = 255
        records = [
            _image_record(tmp_path, "square", bright),
            _image_record(tmp_path, "empty", np.zeros((128, 128), dtype=np.uint8)),
        ]
        ds = DetectionDataset(records, input_size=SIZE)
        loader = DataLoader(ds, batch_size=2, collate_fn=collate)
        preds = predict_dataset(
            _BrightSquareFinder(), loader, torch.device("cpu"), ds.records, SIZE
        )
        assert set(preds) == {"square", "empty"}
        assert preds["empty"] == []
        [(s, x, y, w, h)] = preds["square"]
        assert s == pytest.approx(0.9)
        assert (x, y, w, h) == pytest.approx((40.0, 20.0, 40.0, 40.0), abs=0.5)
        # A box equal to the truth scores a perfect RSNA metric; the empty image counts as
        # a true negative.
        metrics = score({"square": [(40.0, 20.0, 40.0, 40.0)], "empty": []}, preds)
        assert metrics["rsna_map"] == pytest.approx(1.0)
        assert metrics["sensitivity"] == 1.0 and metrics["specificity"] == 1.0


class _BrightSquareFinder(nn.Module):
    """A stand-in detector: the bounding box of the pixels brighter than half, score 0.9.

    Boxes are XYXY in the pixels of the image it is given (the model input), like a
    torchvision detection model in eval mode.
    """

    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        outputs = []
        for image in images:
            ys, xs = torch.nonzero(image[0] > 0.5, as_tuple=True)
            if len(xs):
                boxes = torch.tensor(
                    [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], dtype=torch.float32
                )
            else:
                boxes = torch.zeros((0, 4))
            n = len(boxes)
            outputs.append(
                {
                    "boxes": boxes,
                    "scores": torch.full((n,), 0.9),
                    "labels": torch.ones(n, dtype=torch.int64),
                }
            )
        return outputs


def _image_record(folder: Path, image_id: str, pixels: np.ndarray) -> ImageRecord:
    """Write ``pixels`` as ``<image_id>.dcm`` and describe it (no boxes: not read here)."""
    path = folder / f"{image_id}.dcm"
    save_dataset(new_image_dataset(pixels, PatientID=image_id), path)
    height, width = pixels.shape
    return ImageRecord(image_id, str(path), [], height, width, image_id)


class TestTrain:
    def test_writes_checkpoints_that_detect_loads(self, phantoms: Path, tmp_path: Path) -> None:
        """A one-epoch run writes best/last checkpoints, the split, and detect can use it."""
        out = tmp_path / "model.pt"
        result = train(_config(phantoms, out))
        assert result.best == out and out.is_file()
        assert result.last == tmp_path / "model.last.pt" and result.last.is_file()
        model, meta = load_model(out)
        assert meta["arch"] == "retinanet" and meta["backbone"] == "mobilenet_v3"
        assert meta["input_size"] == SIZE
        assert meta["threshold"] == result.best_metrics["threshold"]
        assert meta["metrics"]["epoch"] == 1 and "rsna_map" in meta["metrics"]
        assert meta["training"]["val_images"] == 2 and meta["training"]["train_images"] == 8
        assert "train_state" not in meta
        detections = Detector(out, device="cpu").predict(sorted(phantoms.glob("*.dcm"))[:2])
        assert [d.ok for d in detections] == [True, True]
        files = [str(p) for p in sorted(phantoms.glob("*.dcm"))]
        rc = cli.main(["detect", *files, "--model", str(out), "--out", str(tmp_path / "s.csv")])
        assert rc == 0
        assert len((tmp_path / "s.csv").read_text().splitlines()) == 11

    def test_split_file_keeps_patients_apart(self, phantoms: Path, tmp_path: Path) -> None:
        """The saved split lists every image once, in exactly one set, both classes in val."""
        result = train(_config(phantoms, tmp_path / "m.pt", val_fraction=0.4))
        with open(result.split, encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        ids = [r["patientId"] for r in rows]
        assert len(ids) == len(set(ids)) == 10
        val = [r for r in rows if r["split"] == "val"]
        assert {r["positive"] for r in val} == {"0", "1"}

    def test_resume_continues_from_the_right_epoch(self, phantoms: Path, tmp_path: Path) -> None:
        """--resume of a 1-epoch run trains epoch 2 only, with the same split."""
        out = tmp_path / "m.pt"
        first = train(_config(phantoms, out, epochs=1))
        split_before = first.split.read_text()
        resumed = train(_config(phantoms, out, epochs=2, resume=str(first.last), seed=123))
        assert resumed.start_epoch == 2 and resumed.epochs_run == 1
        assert [h["epoch"] for h in resumed.history] == [1, 2]
        _state, meta = load_checkpoint(resumed.last)
        assert meta["train_state"]["epoch"] == 2
        assert meta["training"]["resumed_from"] == str(first.last)
        assert resumed.split.read_text() == split_before

    def test_resume_needs_a_last_checkpoint(self, phantoms: Path, tmp_path: Path) -> None:
        """The best checkpoint carries no training state: resuming from it is refused."""
        first = train(_config(phantoms, tmp_path / "m.pt"))
        with pytest.raises(CheckpointError, match="m.pt: cannot resume: no training state"):
            train(_config(phantoms, tmp_path / "n.pt", resume=str(first.best)))

    def test_init_fine_tunes_with_the_checkpoint_architecture(
        self, phantoms: Path, tmp_path: Path
    ) -> None:
        """--init starts at epoch 1 from the weights, taking arch/backbone/size from the file."""
        first = train(_config(phantoms, tmp_path / "a.pt"))
        tuned = train(
            _config(phantoms, tmp_path / "b.pt", init=str(first.best), backbone="resnet50")
        )
        assert tuned.start_epoch == 1
        _state, meta = load_checkpoint(tuned.best)
        assert meta["backbone"] == "mobilenet_v3" and meta["training"]["init"] == str(first.best)

    def test_half_weights_checkpoint_loads(self, phantoms: Path, tmp_path: Path) -> None:
        """half_weights stores conv weights as float16; the model still loads and runs."""
        result = train(_config(phantoms, tmp_path / "h.pt", half_weights=True, description="demo"))
        state, meta = load_checkpoint(result.best)
        assert any(v.dtype == torch.float16 for v in state.values())
        assert meta["description"] == "demo"
        model, _meta = load_model(result.best)
        with torch.inference_mode():
            out = model([torch.rand(3, SIZE, SIZE)])
        assert set(out[0]) == {"boxes", "scores", "labels"}

    def test_wrong_labels_file_stops_before_training(self, phantoms: Path, tmp_path: Path) -> None:
        """A labels file with the wrong columns raises at once and writes nothing."""
        bad = tmp_path / "bad.csv"
        bad.write_text("patientId,PredictionString\nx,\n", encoding="utf-8")
        out = tmp_path / "m.pt"
        with pytest.raises(LabelsError, match="bad.csv: not a labels CSV"):
            train(_config(phantoms, out, labels=str(bad)))
        assert list(tmp_path.iterdir()) == [bad]

    def test_bad_rows_are_skipped_and_listed(self, phantoms: Path, tmp_path: Path) -> None:
        """Bad rows are skipped with a count and written to <out>.problems.txt."""
        labels = tmp_path / "labels.csv"
        text = (phantoms / "labels.csv").read_text()
        labels.write_text(text + "ghost,,,,,0\nghost2,1,1,0,5,1\n", encoding="utf-8")
        result = train(_config(phantoms, tmp_path / "m.pt", labels=str(labels)))
        assert result.report.missing_images == 1 and result.report.bad_rows == 1
        problems = sibling(tmp_path / "m.pt", ".problems.txt").read_text()
        assert "no image for patientId 'ghost'" in problems
        assert "box width and height must be > 0" in problems

    def test_bad_option(self, phantoms: Path, tmp_path: Path) -> None:
        """Options are checked before anything runs."""
        with pytest.raises(ValueError, match="--augment must be one of"):
            train(_config(phantoms, tmp_path / "m.pt", augment="wild"))


class TestHalfWeights:
    def test_only_matrices_become_half(self) -> None:
        """Conv weights go to float16; biases and BatchNorm statistics stay float32."""
        state = {
            "conv.weight": torch.ones(2, 2, 3, 3),
            "bn.running_var": torch.ones(2),
            "bn.num_batches_tracked": torch.tensor(3),
        }
        out = half_weights(state)
        assert out["conv.weight"].dtype == torch.float16
        assert out["bn.running_var"].dtype == torch.float32
        assert out["bn.num_batches_tracked"].dtype == torch.int64


class TestTrainCommand:
    def test_runs_end_to_end(self, phantoms: Path, tmp_path: Path, capsys) -> None:
        """`pneumoview train` trains, prints the best metric and where the files are."""
        out = tmp_path / "cli.pt"
        rc = cli.main(
            [
                "train",
                "--images",
                str(phantoms),
                "--labels",
                str(phantoms / "labels.csv"),
                "--out",
                str(out),
                "--backbone",
                "mobilenet_v3",
                "--size",
                str(SIZE),
                "--epochs",
                "1",
                "--batch-size",
                "4",
                "--augment",
                "heavy_rotations",
                "--jitter",
                "0.2",
                "--scheduler",
                "plateau",
                "--workers",
                "0",
                "--quiet",
            ]
        )
        assert rc == 0
        text = capsys.readouterr().out
        assert "best validation RSNA metric" in text and str(out) in text
        assert out.is_file()
        # Listed in README as always written: empty when nothing was skipped.
        assert (tmp_path / "cli.problems.txt").read_text(encoding="utf-8") == ""

    def test_bad_labels_file_exits_1(self, phantoms: Path, tmp_path: Path, capsys) -> None:
        """A wrong labels file is a one-line error and exit code 1."""
        bad = tmp_path / "bad.csv"
        bad.write_text("a,b\n1,2\n", encoding="utf-8")
        rc = cli.main(
            ["train", "--images", str(phantoms), "--labels", str(bad), "--out", str(tmp_path / "m")]
        )
        assert rc == 1
        assert "pneumoview train: error: bad.csv: not a labels CSV" in capsys.readouterr().err

    def test_bad_argument_exits_2(self, phantoms: Path, tmp_path: Path) -> None:
        """A bad value is a usage error."""
        rc = cli.main(
            [
                "train",
                "--images",
                str(phantoms),
                "--labels",
                str(phantoms / "labels.csv"),
                "--out",
                str(tmp_path / "m.pt"),
                "--epochs",
                "0",
            ]
        )
        assert rc == 2


def _train_argv(phantoms: Path, labels: Path, out: Path, *extra: str) -> list[str]:
    return [
        "train",
        "--images",
        str(phantoms),
        "--labels",
        str(labels),
        "--out",
        str(out),
        "--backbone",
        "mobilenet_v3",
        "--size",
        str(SIZE),
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--augment",
        "none",
        "--workers",
        "0",
        "--quiet",
        *extra,
    ]


class TestTrainRefusals:
    def test_nan_validation_metric_is_refused(self, phantoms: Path, tmp_path: Path, capsys) -> None:
        """No validation image can be scored (no boxes, none predicted): exit 1, no "best"."""
        ids = sorted(p.stem for p in phantoms.glob("*.dcm"))
        labels = tmp_path / "negatives.csv"
        labels.write_text(
            "patientId,x,y,width,height,Target\n" + "".join(f"{i},,,,,0\n" for i in ids)
        )
        out = tmp_path / "nan.pt"
        torch.manual_seed(0)
        rc = cli.main(_train_argv(phantoms, labels, out))
        err = capsys.readouterr().err
        assert rc == 1
        assert "validation RSNA metric is not a number at epoch 1" in err
        assert not out.exists()
        assert "Traceback" not in err

    def test_random_backbone_weights(self, phantoms: Path, tmp_path: Path, capsys) -> None:
        """Random bytes as --backbone-weights: "not a state dict", not "Python objects"."""
        weights = tmp_path / "random.pth"
        weights.write_bytes(bytes(range(256)) * 8)
        out = tmp_path / "m.pt"
        rc = cli.main(
            _train_argv(phantoms, phantoms / "labels.csv", out, "--backbone-weights", str(weights))
        )
        err = capsys.readouterr().err
        assert rc == 1
        assert "random.pth: not a state dict (not a PyTorch weights file)" in err
        assert "Python objects" not in err

    def test_out_in_a_missing_folder(self, phantoms: Path, tmp_path: Path, capsys) -> None:
        """--out under a folder that does not exist: exit 2 before reading any data."""
        out = tmp_path / "nope" / "m.pt"
        rc = cli.main(_train_argv(phantoms, tmp_path / "no-labels.csv", out))
        err = capsys.readouterr().err
        assert rc == 2
        assert "does not exist" in err and "no-labels.csv" not in err
