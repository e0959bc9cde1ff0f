"""RSNA CSV reading and writing: good files, bad rows with line numbers, unusable files."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.rsna.labels import (
    LabelsError,
    parse_prediction_string,
    read_class_info,
    read_labels,
    read_predictions,
)

HEADER = "patientId,x,y,width,height,Target\n"


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


class TestReadLabels:
    def test_rsna_rows(self, tmp_path: Path) -> None:
        """Several boxes per patient are collected; Target=0 gives an empty list."""
        path = write(
            tmp_path,
            "labels.csv",
            HEADER + "a,,,,,0\nb,10,20,30,40,1\nb,100,120,50.5,60,1\n",
        )
        labels = read_labels(path)
        assert labels.boxes == {"a": [], "b": [(10, 20, 30, 40), (100, 120, 50.5, 60)]}
        assert labels.scores is None
        assert labels.problems == []
        assert labels.positives == 1

    def test_bom_crlf_quotes_and_spaces(self, tmp_path: Path) -> None:
        """A UTF-8 BOM, CRLF line ends, quoted fields and stray spaces are accepted."""
        text = '\ufeffpatientId,x,y,width,height,Target\r\n"a", 1 ,2,3,4,1\r\n"b",,,,,"0"\r\n'
        labels = read_labels(write(tmp_path, "l.csv", text.encode("utf-8")))
        assert labels.boxes == {"a": [(1, 2, 3, 4)], "b": []}

    def test_bad_rows_are_reported_with_line_numbers(self, tmp_path: Path) -> None:
        """Bad numbers, zero size, bad Target, Target=1 without box and duplicates are skipped."""
        text = HEADER + (
            "ok,1,2,3,4,1\n"  # line 2
            "n1,x,2,3,4,1\n"  # 3 bad number
            "n2,1,2,0,4,1\n"  # 4 zero width
            "n3,1,2,3,4,2\n"  # 5 Target 2
            "n4,,,,,1\n"  # 6 Target=1 without box
            "ok,1,2,3,4,1\n"  # 7 duplicate
            "n5,1,2,-3,4,1\n"  # 8 negative size
            "n6,1,2,3,inf,1\n"  # 9 not finite
        )
        labels = read_labels(write(tmp_path, "bad.csv", text))
        assert labels.boxes == {"ok": [(1, 2, 3, 4)]}
        assert labels.skipped == 7
        assert labels.rows == 8
        lines = [p.split(":")[1] for p in labels.problems]
        assert lines == ["3", "4", "5", "6", "7", "8", "9"]
        assert labels.problems[0].startswith("bad.csv:3: x is not a number")
        assert "duplicate row" in labels.problems[4]

    def test_huge_field_is_one_bad_row(self, tmp_path: Path) -> None:
        """A field longer than the csv limit is reported; the rows after it are still read."""
        text = HEADER + "a," + "9" * 200_000 + ",2,3,4,1\nb,1,2,3,4,1\n"
        labels = read_labels(write(tmp_path, "huge.csv", text))
        assert labels.boxes == {"b": [(1, 2, 3, 4)]}
        assert labels.skipped == 1

    def test_score_column(self, tmp_path: Path) -> None:
        """A score column gives scores parallel to the boxes."""
        text = "patientId,x,y,width,height,Target,score\na,1,2,3,4,1,0.9\nb,,,,,0,\n"
        labels = read_labels(write(tmp_path, "s.csv", text))
        assert labels.scores == {"a": [0.9], "b": []}

    @pytest.mark.parametrize(
        ("content", "reason"),
        [
            ("", "empty file"),
            (
                "patientId,foo\na,1\n",
                r"not a labels CSV: missing column\(s\) x, y, width, height, Target",
            ),
            (b"\x00\x01\x02binary", "not a CSV file"),
            # Bytes that are not UTF-8 are kept (file names); the file still needs its columns.
            (b"patientId,x\n\xff\xfe\xfa", r"not a labels CSV: missing column\(s\) y, width"),
        ],
    )
    def test_unusable_files(self, tmp_path: Path, content: str | bytes, reason: str) -> None:
        """Whole-file errors name the file and the reason."""
        path = write(tmp_path, "f.csv", content)
        with pytest.raises(LabelsError, match=f"^f.csv: {reason}"):
            read_labels(path)

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file is a LabelsError, not an OSError."""
        with pytest.raises(LabelsError, match="nope.csv: file not found"):
            read_labels(tmp_path / "nope.csv")


class TestReadPredictions:
    def test_submission_format(self, tmp_path: Path) -> None:
        """PredictionString groups of five; an empty string means no findings."""
        text = "patientId,PredictionString\na,0.9 10 20 30 40 0.5 1 2 3 4\nb,\n"
        preds = read_predictions(write(tmp_path, "sub.csv", text))
        assert preds.format == "submission"
        assert preds == {"a": [(0.9, 10, 20, 30, 40), (0.5, 1, 2, 3, 4)], "b": []}

    def test_labels_with_score_format(self, tmp_path: Path) -> None:
        """The labels format with a score column is accepted too."""
        text = "patientId,x,y,width,height,Target,score\na,1,2,3,4,1,0.75\nb,,,,,0,\n"
        preds = read_predictions(write(tmp_path, "p.csv", text))
        assert preds.format == "labels"
        assert preds == {"a": [(0.75, 1, 2, 3, 4)], "b": []}

    def test_bad_prediction_rows(self, tmp_path: Path) -> None:
        """A PredictionString that is not groups of five, or a bad score, is a row problem;
        the image is still counted (it was run), with no box from that row."""
        text = (
            "patientId,PredictionString\n"
            "a,0.9 10 20 30\n"
            "b,1.5 1 2 3 4\n"
            "c,0.5 1 2 3 4\n"
            "c,0.4 5 6 7 8\n"
        )
        preds = read_predictions(write(tmp_path, "sub.csv", text))
        assert preds == {"a": [], "b": [], "c": [(0.5, 1, 2, 3, 4), (0.4, 5, 6, 7, 8)]}
        assert preds.lines == {"a": [], "b": [], "c": [4, 5]}
        assert preds.problems[0] == (
            "sub.csv:2: PredictionString has 4 values, not a multiple of 5 (conf x y w h); "
            "image 'a' counted with no box from it"
        )
        assert preds.problems[1].startswith("sub.csv:3: score must be in [0, 1]")
        assert preds.problems[2].startswith("sub.csv:5: duplicate patientId")

    def test_labels_format_bad_only_row_still_counts_the_image(self, tmp_path: Path) -> None:
        """Labels+score predictions: an image whose only row is bad is kept with no box."""
        text = "patientId,x,y,width,height,Target,score\na,1,2,3,4,1,7\nb,1,2,3,4,1,0.5\n"
        preds = read_predictions(write(tmp_path, "p.csv", text))
        assert preds == {"a": [], "b": [(0.5, 1, 2, 3, 4)]}
        assert preds.lines == {"a": [], "b": [3]}
        assert preds.problems[0].startswith("p.csv:2: score must be in [0, 1]")

    def test_labels_without_score_is_refused(self, tmp_path: Path) -> None:
        """Predictions need a confidence per box."""
        with pytest.raises(LabelsError, match="l.csv: no score column"):
            read_predictions(write(tmp_path, "l.csv", HEADER + "a,1,2,3,4,1\n"))


class TestParsePredictionString:
    def test_empty_string_is_no_findings(self) -> None:
        """An empty PredictionString is an image with no findings."""
        assert parse_prediction_string("  ") == []


class TestReadClassInfo:
    def test_classes_and_problems(self, tmp_path: Path) -> None:
        """Repeated rows merge; unknown or conflicting classes are reported."""
        text = (
            "patientId,class\n"
            "a,Normal\n"
            "b,Lung Opacity\n"
            "b,Lung Opacity\n"
            "c,No Lung Opacity / Not Normal\n"
            "d,Pneumothorax\n"
            "a,Lung Opacity\n"
        )
        info = read_class_info(write(tmp_path, "info.csv", text))
        assert info == {"a": "Normal", "b": "Lung Opacity", "c": "No Lung Opacity / Not Normal"}
        assert [p.split(":")[1] for p in info.problems] == ["6", "7"]  # type: ignore[attr-defined]
