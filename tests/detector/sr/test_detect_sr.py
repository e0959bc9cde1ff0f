"""``pneumoview detect --format sr``: one SR per image with the model's boxes and scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from detector import cli
from detector.rsna.labels import read_predictions
from detector.sr.read import read_sr
from tests.conftest import chest_like
from tests.detector.test_detect_command import tiny_checkpoint  # noqa: F401 -- fixture


@pytest.fixture
def images(tmp_path: Path, make_dicom) -> Path:
    root = tmp_path / "images"
    make_dicom("p1.dcm", chest_like(96, seed=1), folder=root)
    make_dicom("p2.dcm", chest_like(80, seed=3), folder=root)
    return root


def _detect(paths: list[str], model: Path, out: Path, fmt: str) -> int:
    return cli.main(
        ["detect", *paths, "--model", str(model), "--out", str(out), "--format", fmt,
         "--workers", "0", "--threshold", "0.5"]
    )  # fmt: skip


class TestDetectSr:
    def test_srs_hold_the_submission_boxes(self, tiny_checkpoint, images, tmp_path, capsys):  # noqa: F811
        """Each image's SR has the same boxes and scores as the submission, and references it."""
        sub = tmp_path / "sub.csv"
        assert _detect([str(images)], tiny_checkpoint, sub, "submission") == 0
        out = tmp_path / "srs"
        assert _detect([str(images)], tiny_checkpoint, out, "sr") == 0
        assert "wrote 2 SR file(s)" in capsys.readouterr().err
        preds = read_predictions(sub)
        for name in ("p1", "p2"):
            uid = pydicom.dcmread(images / f"{name}.dcm", stop_before_pixels=True).SOPInstanceUID
            report = read_sr(out / f"{uid}.sr.dcm")
            expected = sorted(preds[name], key=lambda b: -b[0])
            assert expected, "the tiny model reports boxes"
            got = sorted(report.findings, key=lambda f: -(f.score or 0))
            assert len(got) == len(expected)
            for finding, (score, *xywh) in zip(got, expected, strict=True):
                assert finding.sop_instance_uid == uid
                assert finding.source == "model"
                assert finding.score == pytest.approx(score, abs=1e-4)
                assert finding.xywh == pytest.approx(tuple(xywh), abs=0.5)

    def test_no_findings_image_gets_an_sr(self, tiny_checkpoint, images, tmp_path):  # noqa: F811
        """At threshold 1.0 nothing passes; every image still gets a "no findings" SR."""
        out = tmp_path / "srs"
        code = cli.main(
            ["detect", str(images), "--model", str(tiny_checkpoint), "--out", str(out),
             "--format", "sr", "--workers", "0", "--threshold", "1.0"]
        )  # fmt: skip
        assert code == 0
        reports = [read_sr(p) for p in sorted(out.glob("*.sr.dcm"))]
        assert len(reports) == 2
        assert all(r.findings == [] and len(r.referenced) == 1 for r in reports)

    def test_png_is_refused_with_one_line(self, tiny_checkpoint, images, tmp_path, capsys):  # noqa: F811
        """A PNG has no DICOM header to reference: one line, the DICOMs are still written."""
        png = images / "plain.png"
        Image.fromarray(np.asarray(chest_like(64))).save(png)
        out = tmp_path / "srs"
        assert _detect([str(images)], tiny_checkpoint, out, "sr") == 1
        err = capsys.readouterr().err
        assert f"{png}: no DICOM header (a plain image); an SR can only reference" in err
        assert "Traceback" not in err
        assert len(list(out.glob("*.sr.dcm"))) == 2

    def test_out_must_be_a_folder(self, tiny_checkpoint, images, tmp_path, capsys):  # noqa: F811
        target = tmp_path / "file.csv"
        target.write_text("x")
        assert _detect([str(images)], tiny_checkpoint, target, "sr") == 2
        assert "exists and is not a folder" in capsys.readouterr().err
