"""``pneumoview detect`` end to end with a tiny checkpoint on generated DICOMs."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from detector import cli
from detector.model.build import build_model
from detector.model.checkpoint import save_checkpoint
from detector.model.journal import JournalWriter, journal_path, read_journals
from detector.rsna.labels import read_labels, read_predictions
from detector.types import Detection, DetectionResult
from tests.conftest import chest_like
from tests.detector.files.test_output import read_only_folder


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
        out.parent.mkdir()
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
        """Without --model and with no shipped checkpoint: exit 2 with a clear message."""
        monkeypatch.setattr("detector.files.resources.resources_root", lambda: tmp_path / "none")
        code = cli.main(["detect", str(folder), "--out", str(tmp_path / "s.csv")])
        assert code == 2
        assert "no shipped model is installed" in capsys.readouterr().err

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


def detect_args(inputs, model, out, *extra) -> list[str]:
    return [
        "detect",
        *[str(p) for p in inputs],
        "--model",
        str(model),
        "--out",
        str(out),
        "--workers",
        "0",
        *extra,
    ]


class TestOutputCheckedFirst:
    @pytest.mark.parametrize(
        ("make_out", "message"),
        [
            (lambda tmp: tmp / "missing" / "sub.csv", "does not exist"),
            (lambda tmp: tmp, "is a folder"),
            (lambda tmp: (os.mkfifo(tmp / "fifo.csv"), tmp / "fifo.csv")[1], "not a regular"),
        ],
    )
    def test_bad_out_is_a_usage_error_before_any_work(
        self, folder, tmp_path, capsys, make_out, message
    ) -> None:
        """A bad --out stops with exit 2 before the model is even read (a bad one here)."""
        bad_model = tmp_path / "bad.pt"
        bad_model.write_bytes(b"garbage")
        code = cli.main(detect_args([folder], bad_model, make_out(tmp_path)))
        err = capsys.readouterr().err
        assert code == 2
        assert message in err
        assert len(err.strip().splitlines()) == 1

    def test_read_only_folder(self, tiny_checkpoint, folder, tmp_path, capsys) -> None:
        """A folder that cannot be written is refused before the first image."""
        ro = read_only_folder(tmp_path)
        code = cli.main(detect_args([folder], tiny_checkpoint, ro / "sub.csv"))
        assert code == 2
        assert "not writable" in capsys.readouterr().err


@pytest.fixture
def many(tmp_path: Path, make_dicom) -> list[Path]:
    """Forty small readable images."""
    return [
        make_dicom(f"m{i:02d}.dcm", chest_like(64, seed=i), folder=tmp_path / "many")
        for i in range(40)
    ]


class TestJournalAndResume:
    def test_kill_keeps_results_and_resume_finishes(self, tmp_path, many) -> None:
        """SIGKILL mid-run keeps every journaled result; --resume does only the rest."""
        torch.manual_seed(0)
        model = build_model("retinanet", backbone="mobilenet_v3", min_size=384)
        ckpt = tmp_path / "slow.pt"
        save_checkpoint(
            ckpt, model, {"arch": "retinanet", "backbone": "mobilenet_v3", "input_size": 384}
        )
        out = tmp_path / "sub.csv"
        journal = journal_path(out)
        argv = detect_args([many[0].parent], ckpt, out, "--batch-size", "1", "--threshold", "0")
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "detector.cli", *argv],
            cwd=Path(__file__).resolve().parents[2],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None:
                if journal.exists() and len(journal.read_text().splitlines()) >= 4:
                    break
                time.sleep(0.01)
            assert proc.poll() is None, "the run finished before it could be killed"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert not out.exists()
        kept = read_journals([journal]).results
        assert 3 <= len(kept) < 40
        assert all(r.error is None for r in kept.values())

        # A new run without --resume refuses to throw the journal away.
        assert cli.main(argv) == 2
        assert journal.exists()

        code = cli.main([*argv, "--resume"])
        assert code == 0
        preds = read_predictions(out)
        assert sorted(preds) == [f"m{i:02d}" for i in range(40)]
        for source, result in kept.items():
            pid = Path(source).stem
            assert len(preds[pid]) == len(result.detections)
        assert not journal.exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["many", "slow.pt", "sub.csv"]

    def test_resume_with_other_threshold_is_refused(self, tiny_checkpoint, many, tmp_path) -> None:
        """Results of different settings are never mixed."""
        out = tmp_path / "sub.csv"
        with JournalWriter(journal_path(out), {"model": "x", "threshold": 0.9, "frame": 0}):
            pass
        code = cli.main(detect_args(many[:2], tiny_checkpoint, out, "--resume"))
        assert code == 2
        assert journal_path(out).exists()

    def test_resume_from_an_existing_output(self, tiny_checkpoint, many, tmp_path, capsys) -> None:
        """Images already in --out are skipped and their rows kept as they were."""
        out = tmp_path / "sub.csv"
        out.write_text("patientId,PredictionString\nm00,0.7000 1 2 3 4\nother,\n")
        code = cli.main(detect_args(many[:3], tiny_checkpoint, out, "--resume"))
        assert code == 0
        assert "(1 from the interrupted run; " in capsys.readouterr().err
        preds = read_predictions(out)
        assert preds["m00"] == [(0.7, 1.0, 2.0, 3.0, 4.0)]
        assert set(preds) == {"m00", "m01", "m02", "other"}

    def test_250_character_output_name(self, tiny_checkpoint, many, tmp_path) -> None:
        """A long output name works: journal and temp names stay short enough."""
        out = tmp_path / ("s" * 246 + ".csv")
        assert cli.main(detect_args(many[:2], tiny_checkpoint, out)) == 0
        assert set(read_predictions(out)) == {"m00", "m01"}
        assert [p.name for p in tmp_path.iterdir() if p.is_file()] == [out.name]


class TestTorchrun:
    def test_two_ranks_merge_into_one_csv_in_input_order(self, tiny_checkpoint, many, tmp_path):
        """Under torchrun (2 CPU ranks, gloo) rank 0 writes one CSV; no part file is left."""
        out = tmp_path / "dist.csv"
        inputs = [str(p) for p in many[:7]]
        argv = detect_args(inputs, tiny_checkpoint, out, "--device", "cpu", "--threshold", "0")
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--standalone",
                "--nproc_per_node",
                "2",
                "-m",
                "detector.cli",
                *argv,
            ],
            cwd=Path(__file__).resolve().parents[2],
            env={**os.environ, "OMP_NUM_THREADS": "1"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        rows = out.read_text(encoding="utf-8").splitlines()
        assert [r.split(",")[0] for r in rows[1:]] == [f"m{i:02d}" for i in range(7)]
        assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["dist.csv"]
        assert proc.stderr.count("detected on 7 of 7 file(s)") == 1


class TestHostileNames:
    def test_non_utf8_and_formula_names_beside_good_ones(
        self, tiny_checkpoint, tmp_path, make_dicom, capsys
    ) -> None:
        """``caf\\xe9-latin1.dcm`` and ``=HYPERLINK(...).dcm`` are detected with the good
        image; the CSV is written (the name as its bytes, the formula quoted) and read back
        (issue 21.4, 21.5)."""
        root = tmp_path / "in"
        latin1 = os.fsdecode(b"caf\xe9-latin1.dcm")
        make_dicom("good.dcm", chest_like(64, seed=1), folder=root)
        make_dicom(latin1, chest_like(64, seed=2), folder=root)
        make_dicom('=HYPERLINK("h","y").dcm', chest_like(64, seed=3), folder=root)
        out = tmp_path / "sub.csv"
        code = cli.main(detect_args([root], tiny_checkpoint, out))
        assert code == 0, capsys.readouterr().err
        raw = out.read_bytes()
        assert b"\ncaf\xe9-latin1," in raw and b'\n"\'=HYPERLINK(""h"",""y"")",' in raw
        assert sorted(read_predictions(out)) == sorted(
            ["good", os.fsdecode(b"caf\xe9-latin1"), '=HYPERLINK("h","y")']
        )
        assert not journal_path(out).exists()

    def test_resume_with_a_non_utf8_name_in_the_journal(
        self, tiny_checkpoint, tmp_path, make_dicom
    ) -> None:
        """An interrupted run's journal holding ``caf\\xe9-latin1.dcm`` is resumed: that image is
        taken from the journal, the other one is run, and the CSV holds both (issue 21.5)."""
        root = tmp_path / "in"
        latin1 = make_dicom(os.fsdecode(b"caf\xe9-latin1.dcm"), chest_like(64, seed=2), folder=root)
        make_dicom("good.dcm", chest_like(64, seed=1), folder=root)
        out = tmp_path / "sub.csv"
        pid = os.fsdecode(b"caf\xe9-latin1")
        settings = {"model": os.path.abspath(tiny_checkpoint), "threshold": 0.5, "frame": 0}
        with JournalWriter(journal_path(out), settings) as journal:
            journal.add(str(latin1), DetectionResult(pid, [Detection((1, 2, 11, 22), 0.77)]))
        code = cli.main(detect_args([root], tiny_checkpoint, out, "--threshold", "0.5", "--resume"))
        assert code == 0
        preds = read_predictions(out)
        assert sorted(preds) == sorted(["good", pid])
        assert preds[pid] == [(0.77, 1.0, 2.0, 10.0, 20.0)]
        assert not journal_path(out).exists()
