"""`convert` and `detect` over folders as users have them: side files, PNGs, broken files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from detector import cli
from detector.model.build import build_model
from detector.model.checkpoint import save_checkpoint
from detector.rsna.labels import read_predictions
from tests.conftest import chest_like

ROOT = Path(__file__).resolve().parents[2]


def _corrupt_soi(path: Path) -> None:
    data = bytearray(path.read_bytes())
    soi = data.index(b"\xff\xd8\xff")
    data[soi : soi + 2] = b"\x00\x00"
    path.write_bytes(bytes(data))


def _side_files(folder: Path) -> None:
    (folder / "labels.csv").write_text("patientId,x,y,width,height,Target\n")
    (folder / "synth.json").write_text("{}")
    (folder / "README.md").write_text("# data\n")


class TestConvert:
    def test_edge_folder_prints_reasons_not_tracebacks(self, make_dicom, tmp_path: Path) -> None:
        """`main.py convert` on a corrupt JPEG DICOM: one plain reason line, no traceback."""
        src = tmp_path / "in"
        make_dicom("good.dcm", folder=src)
        bad = make_dicom("nosoi.dcm", folder=src, jpeg=True)
        _corrupt_soi(bad)
        _side_files(src)
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        proc = subprocess.run(
            [sys.executable, "main.py", "convert", str(src), "--out", str(tmp_path / "out")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert proc.returncode == 1
        assert "Traceback" not in proc.stderr
        assert (
            f"{bad}: corrupt JPEG Baseline stream "
            "(SOI marker missing: the data does not start like a JPEG image)"
        ) in proc.stderr.splitlines()
        assert "skipped 3 file(s) that are not images (1 .csv, 1 .json, 1 .md)" in proc.stderr
        assert (tmp_path / "out" / "good.png").is_file()

    def test_side_files_and_pngs_exit_zero(self, make_dicom, tmp_path: Path, capsys) -> None:
        """Every image converts (a DICOM, an 8-bit PNG); side files are skipped: exit 0."""
        src = tmp_path / "in"
        make_dicom("a.dcm", folder=src)
        pixels = chest_like(40)
        Image.fromarray(pixels).save(src / "nih_0001.png")
        _side_files(src)
        out = tmp_path / "out"
        assert cli.main(["convert", str(src), "--out", str(out), "--workers", "1"]) == 0
        assert sorted(p.name for p in out.glob("*.png")) == ["a.png", "nih_0001.png"]
        np.testing.assert_array_equal(np.asarray(Image.open(out / "nih_0001.png")), pixels)
        err = capsys.readouterr().err
        assert "converted 2 of 2 file(s)" in err and "skipped 3 file(s)" in err

    def test_convert_output_folder_can_be_an_input(self, make_dicom, tmp_path: Path) -> None:
        """Re-running over a folder holding convert's own index.csv does not fail on it."""
        src = tmp_path / "in"
        make_dicom("a.dcm", folder=src)
        assert cli.main(["convert", str(src), "--out", str(src / "png")]) == 0
        assert cli.main(["convert", str(src), "--out", str(tmp_path / "again")]) == 0


@pytest.fixture
def tiny_checkpoint(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = build_model("retinanet", backbone="mobilenet_v3", min_size=64)
    path = tmp_path / "models" / "tiny.pt"
    save_checkpoint(
        path, model, {"arch": "retinanet", "backbone": "mobilenet_v3", "input_size": 64}
    )
    return path


class TestDetect:
    def test_pngs_and_side_files(self, make_dicom, tiny_checkpoint, tmp_path: Path, capsys) -> None:
        """detect reads a PNG and a JPEG (patientId = stem), skips side files, exits 0."""
        src = tmp_path / "in"
        make_dicom("d1.dcm", chest_like(64, seed=1), folder=src)
        Image.fromarray(chest_like(64, seed=2)).save(src / "p2.png")
        Image.fromarray(chest_like(64, seed=3)).save(src / "j3.jpg", quality=95)
        _side_files(src)
        out = tmp_path / "sub.csv"
        code = cli.main(
            ["detect", str(src), "--model", str(tiny_checkpoint), "--out", str(out)]
            + ["--workers", "0", "--device", "cpu"]
        )
        err = capsys.readouterr().err
        assert code == 0, err
        assert sorted(read_predictions(out)) == ["d1", "j3", "p2"]
        assert "skipped 3 file(s) that are not images" in err
