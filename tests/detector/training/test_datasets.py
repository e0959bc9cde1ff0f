"""Training data: joining labels with images, bad-data reports, samples."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from detector.files.image_files import DatasetError, find_images
from detector.rsna.labels import LabelsError
from detector.synth.phantoms import synthesize
from detector.training.datasets import DetectionDataset
from detector.training.records import load_records

HEADER = "patientId,x,y,width,height,Target\n"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def phantoms(tmp_path: Path) -> Path:
    """Six 64 px phantoms (three positive) with labels.csv and class_info.csv."""
    folder = tmp_path / "images"
    synthesize(folder, 6, size=64, seed=4)
    return folder


class TestFindImages:
    def test_dicom_wins_over_png_and_search_is_recursive(self, tmp_path: Path) -> None:
        """Files are found in subfolders; a DICOM beats a PNG with the same stem."""
        (tmp_path / "sub").mkdir()
        (tmp_path / "a.png").write_bytes(b"x")
        (tmp_path / "sub" / "a.dcm").write_bytes(b"x")
        (tmp_path / "b.png").write_bytes(b"x")
        (tmp_path / "notes.txt").write_text("x")
        found = find_images(tmp_path)
        assert found == {"a": str(tmp_path / "sub" / "a.dcm"), "b": str(tmp_path / "b.png")}

    def test_missing_folder(self, tmp_path: Path) -> None:
        """A missing folder is a DatasetError naming it."""
        with pytest.raises(DatasetError, match="nope: image folder not found"):
            find_images(tmp_path / "nope")


class TestLoadRecords:
    def test_joins_labels_and_images(self, phantoms: Path) -> None:
        """Every labelled phantom becomes a record with its boxes, size and patient."""
        records, report = load_records(
            phantoms, phantoms / "labels.csv", phantoms / "class_info.csv"
        )
        assert len(records) == 6
        assert report.problems == [] and report.skipped == 0
        positives = [r for r in records if r.positive]
        assert len(positives) == 3
        negative = next(r for r in records if not r.positive)
        assert negative.boxes == []  # an image with no findings is kept, without boxes
        assert negative.klass in ("Normal", "No Lung Opacity / Not Normal")
        assert all(r.height == r.width == 64 and r.group == r.image_id for r in records)

    def test_bad_rows_are_reported_with_lines_and_skipped(self, phantoms: Path) -> None:
        """Missing image, box outside, zero-size box and duplicate row: each named; the image
        with a bad box is left out whole (its other, good box would train the lost lesion as
        background)."""
        pid = sorted(p.stem for p in phantoms.glob("*.dcm"))[0]
        other = sorted(p.stem for p in phantoms.glob("*.dcm"))[1]
        labels = _write(
            phantoms / "bad.csv",
            HEADER
            + f"{pid},10,10,20,20,1\n"  # line 2: good
            + f"{pid},50,50,40,40,1\n"  # line 3: outside the 64x64 image
            + f"{pid},5,5,0,10,1\n"  # line 4: zero width
            + f"{pid},10,10,20,20,1\n"  # line 5: duplicate of line 2
            + "ghost,,,,,0\n"  # line 6: no image
            + f"{other},,,,,0\n",  # line 7: negative, good
        )
        records, report = load_records(phantoms, labels)
        assert [r.image_id for r in records] == [other]
        text = "\n".join(report.problems)
        assert "bad.csv:3: box (x=50, y=50, width=40, height=40) lies outside the 64x64" in text
        assert "bad.csv:4: box width and height must be > 0" in text
        assert "bad.csv:5: duplicate row" in text
        assert "bad.csv:6: no image for patientId 'ghost'" in text
        assert f"bad.csv:2: image {pid!r} left out of training" in text
        assert (report.bad_rows, report.bad_boxes, report.missing_images) == (2, 1, 1)
        assert report.dropped_images == 1
        assert "1 image(s) with a bad box or row" in report.summary()

    def test_duplicate_row_keeps_the_image(self, phantoms: Path) -> None:
        """A repeated row loses nothing: reported, and the image is kept with its box."""
        pid = sorted(p.stem for p in phantoms.glob("*.dcm"))[0]
        labels = _write(phantoms / "dup.csv", HEADER + f"{pid},1,1,9,9,1\n{pid},1,1,9,9,1\n")
        records, report = load_records(phantoms, labels)
        assert [r.boxes for r in records] == [[(1.0, 1.0, 9.0, 9.0)]]
        assert report.problems == ["dup.csv:3: duplicate row"]

    def test_box_slightly_outside_is_clipped(self, phantoms: Path) -> None:
        """A box sticking out by under a pixel (rounding) is clipped, not dropped."""
        pid = sorted(p.stem for p in phantoms.glob("*.dcm"))[0]
        labels = _write(phantoms / "edge.csv", HEADER + f"{pid},40,-0.5,24.5,20,1\n")
        records, report = load_records(phantoms, labels)
        assert records[0].boxes == [(40.0, 0.0, 24.0, 19.5)]
        assert report.problems == []

    def test_image_whose_boxes_are_all_bad_is_skipped(self, phantoms: Path) -> None:
        """A positive image left without valid boxes is not trained on as a negative."""
        pids = sorted(p.stem for p in phantoms.glob("*.dcm"))
        labels = _write(
            phantoms / "all_bad.csv", HEADER + f"{pids[0]},100,100,5,5,1\n{pids[1]},,,,,0\n"
        )
        records, report = load_records(phantoms, labels)
        assert [r.image_id for r in records] == [pids[1]]
        assert any(f"image {pids[0]!r} left out of training" in p for p in report.problems)

    def test_image_whose_only_row_is_bad_is_reported(self, phantoms: Path) -> None:
        """An existing image with only a malformed row is named as left out, not ignored."""
        pids = sorted(p.stem for p in phantoms.glob("*.dcm"))
        labels = _write(
            phantoms / "one_bad.csv", HEADER + f"{pids[0]},1,1,0,5,1\n{pids[1]},,,,,0\n"
        )
        records, report = load_records(phantoms, labels)
        assert [r.image_id for r in records] == [pids[1]]
        assert f"one_bad.csv:2: image {pids[0]!r} left out of training" in "\n".join(
            report.problems
        )
        assert report.unlabelled_images == 4 and report.dropped_images == 1

    def test_unreadable_image_is_reported(self, phantoms: Path) -> None:
        """A file that is not DICOM is skipped with its name and the reason."""
        (phantoms / "broken.dcm").write_bytes(b"not a dicom file at all" * 10)
        labels = _write(phantoms / "b.csv", HEADER + "broken,,,,,0\n")
        labels.write_text(
            (phantoms / "labels.csv").read_text() + "broken,,,,,0\n", encoding="utf-8"
        )
        records, report = load_records(phantoms, labels)
        assert len(records) == 6
        assert report.unreadable_images == 1
        assert any(p.startswith(str(phantoms / "broken.dcm") + ": ") for p in report.problems)

    def test_wrong_columns_stop_at_once(self, phantoms: Path) -> None:
        """A labels file with the wrong columns raises LabelsError naming the missing ones."""
        labels = _write(phantoms / "wrong.csv", "patientId,PredictionString\nx,\n")
        with pytest.raises(LabelsError, match=r"wrong.csv: not a labels CSV: missing column"):
            load_records(phantoms, labels)

    def test_missing_labels_file(self, phantoms: Path) -> None:
        """A missing labels file raises LabelsError."""
        with pytest.raises(LabelsError, match="none.csv: file not found"):
            load_records(phantoms, phantoms / "none.csv")

    def test_nothing_usable(self, tmp_path: Path, phantoms: Path) -> None:
        """Labels that match no image give a DatasetError with the counts."""
        labels = _write(tmp_path / "l.csv", HEADER + "ghost,,,,,0\n")
        with pytest.raises(DatasetError, match=r"no usable labelled images \(1 patient"):
            load_records(phantoms, labels)


class TestDetectionDataset:
    def test_sample_is_scaled_to_the_input_size(self, phantoms: Path) -> None:
        """Images come at the input size, boxes scaled with them; negatives have no boxes."""
        records, _ = load_records(phantoms, phantoms / "labels.csv")
        ds = DetectionDataset(records, input_size=32)
        for i, rec in enumerate(records):
            image, target = ds[i]
            assert image.shape == (1, 32, 32) and image.dtype == torch.float32
            expected = [[x / 2, y / 2, (x + w) / 2, (y + h) / 2] for x, y, w, h in rec.boxes]
            assert torch.allclose(
                target["boxes"].reshape(-1, 4), torch.tensor(expected).reshape(-1, 4)
            )
            assert target["labels"].tolist() == [1] * len(rec.boxes)
            assert target["index"] == i

    def test_preload_matches_lazy_loading(self, phantoms: Path) -> None:
        """Preloaded pixels equal the ones read on demand."""
        records, _ = load_records(phantoms, phantoms / "labels.csv")
        lazy = DetectionDataset(records, input_size=48)
        cached = DetectionDataset(records, input_size=48)
        assert cached.preload() == []
        assert cached.cached
        assert torch.equal(lazy[2][0], cached[2][0])

    def test_png_images(self, tmp_path: Path) -> None:
        """PNG files (as written by `pneumoview convert`) are read too."""
        from PIL import Image

        pixels = np.zeros((40, 80), dtype=np.uint8)
        pixels[:, 40:] = 200
        Image.fromarray(pixels).save(tmp_path / "p1.png")
        labels = _write(tmp_path / "l.csv", HEADER + "p1,40,0,40,40,1\n")
        records, report = load_records(tmp_path, labels)
        assert (records[0].height, records[0].width) == (40, 80)
        image, target = DetectionDataset(records, input_size=40)[0]
        assert image.shape == (1, 20, 40)
        assert target["boxes"].tolist() == [[20.0, 0.0, 40.0, 20.0]]
        assert image[0, :, 25:].mean() > 0.7 > image[0, :, :15].mean()

    def test_converted_pngs_get_scaled_boxes(self, phantoms: Path, tmp_path: Path) -> None:
        """`convert --size 32` of 64 px DICOMs: the labels' boxes are halved for the PNGs."""
        from detector import cli

        pngs = tmp_path / "png"
        dicoms = [str(p) for p in sorted(phantoms.glob("*.dcm"))]
        assert cli.main(["convert", *dicoms, "--out", str(pngs), "--size", "32"]) == 0
        labels = phantoms / "labels.csv"
        from_dicom, _ = load_records(phantoms, labels)
        from_png, report = load_records(pngs, labels)
        assert report.problems == []
        assert [r.image_id for r in from_png] == [r.image_id for r in from_dicom]
        for png, dcm in zip(from_png, from_dicom, strict=True):
            assert (png.height, png.width) == (32, 32)
            assert png.boxes == [tuple(v / 2 for v in box) for box in dcm.boxes]
        assert any(r.boxes for r in from_png)

    def test_labels_size_scales_pngs_without_an_index(self, tmp_path: Path) -> None:
        """RSNA-style labels in 1024 px space for a 256 px PNG: boxes divided by 4."""
        from PIL import Image

        Image.fromarray(np.zeros((256, 256), np.uint8)).save(tmp_path / "p1.png")
        labels = _write(tmp_path / "l.csv", HEADER + "p1,400,200,200,400,1\n")
        records, report = load_records(tmp_path, labels, labels_size=1024)
        assert records[0].boxes == [(100.0, 50.0, 50.0, 100.0)]
        with pytest.raises(DatasetError, match=r"1 box\(es\) outside the image"):
            load_records(tmp_path, labels)  # in the PNG's own pixels the box is outside

    def test_unreadable_pixels_fall_back_to_the_next_image(
        self, phantoms: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A file that breaks after the header check is skipped with a warning, not a crash."""
        records, _ = load_records(phantoms, phantoms / "labels.csv")
        Path(records[0].path).write_bytes(b"garbage")
        ds = DetectionDataset(records, input_size=32)
        with caplog.at_level(logging.WARNING, logger="detector.training.datasets"):
            _image, target = ds[0]
        assert target["index"] == 1
        assert "skipped" in caplog.text and Path(records[0].path).name in caplog.text
        assert any(Path(records[0].path).name in p for p in ds.preload())
        assert len(ds) == 5
