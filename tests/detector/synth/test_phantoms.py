"""Synthetic phantoms: files, labels, determinism, the demo study and the ``synth`` command."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pydicom
import pytest

from detector import cli
from detector.imaging.decode import load_image
from detector.rsna.labels import read_class_info, read_labels
from detector.synth.phantoms import (
    MANIFEST_NAME,
    make_demo_study,
    patient_id_for,
    synthesize,
)


class TestSynthesize:
    def test_writes_dicoms_labels_and_classes(self, tmp_path: Path) -> None:
        """Every image is a readable DICOM listed in labels.csv and class_info.csv."""
        summary = synthesize(tmp_path, 6, size=96, seed=3)
        assert summary.count == 6
        assert sorted(p.name for p in tmp_path.glob("*.dcm")) == sorted(
            f"{pid}.dcm" for pid in summary.patient_ids
        )
        labels = read_labels(tmp_path / "labels.csv")
        assert labels.problems == []
        assert set(labels.boxes) == set(summary.patient_ids)
        classes = read_class_info(tmp_path / "class_info.csv")
        for pid in summary.patient_ids:
            assert labels.boxes[pid] == [tuple(float(v) for v in b) for b in summary.boxes[pid]]
            assert (classes[pid] == "Lung Opacity") == bool(summary.boxes[pid])
        image = load_image(summary.files[0])
        assert image.stored.shape == (96, 96)

    def test_boxes_lie_inside_the_image(self, tmp_path: Path) -> None:
        """Positives get 1-4 boxes with positive size inside the image; negatives none."""
        summary = synthesize(tmp_path, 10, size=128, seed=11, positive_fraction=0.6)
        assert summary.positives == 6
        for boxes in summary.boxes.values():
            assert len(boxes) <= 4
            for x, y, w, h in boxes:
                assert w > 0 and h > 0
                assert x >= 0 and y >= 0 and x + w <= 128 and y + h <= 128

    def test_negative_only_set_has_no_boxes(self, tmp_path: Path) -> None:
        """positive_fraction=0 gives only Target=0 rows (images with no findings)."""
        summary = synthesize(tmp_path, 3, size=64, positive_fraction=0.0)
        labels = read_labels(tmp_path / "labels.csv")
        assert summary.positives == 0
        assert all(boxes == [] for boxes in labels.boxes.values())
        assert labels.rows == 3

    def test_headers_say_synthetic(self, tmp_path: Path) -> None:
        """Headers are plausible CR chest headers that say the image is a phantom."""
        summary = synthesize(tmp_path, 2, size=512, seed=1)
        ds = pydicom.dcmread(summary.files[0])
        assert ds.PatientID == summary.files[0].stem == patient_id_for(1, 0)
        assert "SYNTHETIC" in str(ds.PatientName)
        assert "SYNTHETIC PHANTOM" in ds.SeriesDescription
        assert ds.Modality == "CR"
        assert ds.PhotometricInterpretation == "MONOCHROME2"
        assert ds.BitsStored == 8
        assert ds.BodyPartExamined == "CHEST"
        assert ds.ViewPosition in ("PA", "AP")
        assert ds.PatientSex in ("M", "F")
        assert ds.PatientAge.endswith("Y")
        assert len(ds.StudyDate) == 8
        assert [float(v) for v in ds.PixelSpacing] == pytest.approx([0.286, 0.286])

    def test_mixes_jpeg_and_uncompressed(self, tmp_path: Path) -> None:
        """jpeg_fraction=0.5 writes half the files as JPEG Baseline."""
        summary = synthesize(tmp_path, 4, size=64, jpeg_fraction=0.5)
        syntaxes = [pydicom.dcmread(p).file_meta.TransferSyntaxUID for p in summary.files]
        assert sum(s.is_compressed for s in syntaxes) == 2
        assert all(load_image(p).stored.dtype == np.uint8 for p in summary.files)

    def test_same_seed_same_set(self, tmp_path: Path) -> None:
        """A seed fixes pixels, labels and UIDs; another seed gives other images."""
        a = synthesize(tmp_path / "a", 3, size=64, seed=7, jpeg_fraction=0.0)
        b = synthesize(tmp_path / "b", 3, size=64, seed=7, jpeg_fraction=0.0)
        c = synthesize(tmp_path / "c", 3, size=64, seed=8, jpeg_fraction=0.0)
        assert (tmp_path / "a" / "labels.csv").read_text() == (
            tmp_path / "b" / "labels.csv"
        ).read_text()
        for fa, fb in zip(a.files, b.files, strict=True):
            da, db = pydicom.dcmread(fa), pydicom.dcmread(fb)
            assert da.PixelData == db.PixelData
            assert da.SOPInstanceUID == db.SOPInstanceUID
        assert pydicom.dcmread(a.files[0]).PixelData != pydicom.dcmread(c.files[0]).PixelData

    def test_more_images_keep_the_first_ones(self, tmp_path: Path) -> None:
        """Image i depends only on (seed, i): a larger set starts with the same pixels."""
        small = synthesize(tmp_path / "s", 2, size=64, seed=5, jpeg_fraction=0.0)
        large = synthesize(tmp_path / "l", 4, size=64, seed=5, jpeg_fraction=0.0)
        same = (
            pydicom.dcmread(small.files[0]).PixelData == pydicom.dcmread(large.files[0]).PixelData
        )
        assert same

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"count": 0}, "count must be >= 1"),
            ({"count": 1, "size": 16}, "size must be >= 32"),
            ({"count": 1, "jpeg_fraction": 1.5}, "jpeg_fraction must be in"),
            ({"count": 1, "positive_fraction": -0.1}, "positive_fraction must be in"),
        ],
    )
    def test_bad_arguments(self, tmp_path: Path, kwargs: dict, match: str) -> None:
        """Bad arguments raise ValueError naming the argument."""
        with pytest.raises(ValueError, match=match):
            synthesize(tmp_path, **kwargs)


class TestMakeDemoStudy:
    def test_is_idempotent(self, tmp_path: Path) -> None:
        """A second call leaves the existing files alone."""
        folder = make_demo_study(tmp_path / "demo", count=3, size=64)
        first = folder / f"{patient_id_for(2026, 0)}.dcm"
        stamp = first.stat().st_mtime_ns
        os.utime(first, ns=(stamp - 10**9, stamp - 10**9))
        again = make_demo_study(tmp_path / "demo", count=3, size=64)
        assert again == folder
        assert first.stat().st_mtime_ns == stamp - 10**9
        assert (folder / "labels.csv").is_file() and (folder / "class_info.csv").is_file()
        assert len(list(folder.glob("*.dcm"))) == 3

    def test_regenerates_a_damaged_or_different_study(self, tmp_path: Path) -> None:
        """A missing file or other parameters make it write the study again."""
        folder = make_demo_study(tmp_path / "demo", count=2, size=64)
        (folder / f"{patient_id_for(2026, 1)}.dcm").unlink()
        make_demo_study(folder, count=2, size=64)
        assert (folder / f"{patient_id_for(2026, 1)}.dcm").is_file()
        make_demo_study(folder, count=3, size=64)
        manifest = json.loads((folder / MANIFEST_NAME).read_text())
        assert manifest["count"] == 3 and len(manifest["files"]) == 3


class TestSynthCommand:
    def test_writes_the_set(self, tmp_path: Path, capsys) -> None:
        """`pneumoview synth` writes N DICOMs plus both CSVs and exits 0."""
        rc = cli.main(["synth", "--out", str(tmp_path), "--count", "3", "--size", "64", "--quiet"])
        assert rc == 0
        assert len(list(tmp_path.glob("*.dcm"))) == 3
        assert "wrote 3 synthetic phantom(s)" in capsys.readouterr().out
        assert read_labels(tmp_path / "labels.csv").problems == []

    def test_bad_count_is_a_usage_error(self, tmp_path: Path, capsys) -> None:
        """--count 0 exits 2 with a one-line reason."""
        assert cli.main(["synth", "--out", str(tmp_path), "--count", "0"]) == 2
        assert "--count must be >= 1" in capsys.readouterr().err
