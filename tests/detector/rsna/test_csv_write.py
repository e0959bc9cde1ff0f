"""RSNA CSV writing: one number format, expected CSV text written out by hand."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from detector.rsna.csv_write import (
    format_coord,
    format_score,
    prediction_string,
    write_labels,
    write_submission,
)
from detector.rsna.labels import read_labels, read_predictions
from detector.types import Detection, DetectionResult


class TestNumberFormat:
    @pytest.mark.parametrize(
        ("value", "text"),
        [
            (12.0, "12"),
            (12.5, "12.5"),
            (12.3456, "12.346"),
            (0.0004, "0"),
            (-0.0, "0"),
            (-3.25, "-3.25"),
            (1024.125, "1024.125"),
        ],
    )
    def test_coordinates(self, value: float, text: str) -> None:
        """At most 3 decimals, trailing zeros and a trailing point dropped, never ``-0``."""
        assert format_coord(value) == text

    def test_three_decimals_read_back_exactly(self) -> None:
        """A coordinate given to 1/1000 pixel is the same number after text and back."""
        for value in (0.001, 12.345, 87.654, 1023.999, 511.5):
            assert float(format_coord(value)) == value

    def test_scores(self) -> None:
        """Scores always have 4 decimals."""
        assert [format_score(v) for v in (0.9, 0.12345, 1.0)] == ["0.9000", "0.1235", "1.0000"]

    def test_prediction_string_highest_score_first(self) -> None:
        """``conf x y w h`` groups in decreasing score order."""
        text = prediction_string([(0.2, (1, 2, 3, 4)), (0.75, (10.5, 20, 30.25, 40))])
        assert text == "0.7500 10.5 20 30.25 40 0.2000 1 2 3 4"


class TestWriters:
    results = [
        DetectionResult(
            "a",
            [Detection((10, 20, 40, 60), 0.9), Detection((0, 0, 5, 5), 0.2)],
            (100, 100),
        ),
        DetectionResult("empty", [], (100, 100)),
        DetectionResult("broken", [], (0, 0), error="not a DICOM file"),
    ]

    def test_submission_round_trip(self, tmp_path: Path) -> None:
        """One row per readable image, boxes at the threshold as conf x y w h."""
        path = tmp_path / "out" / "sub.csv"
        assert write_submission(path, self.results, threshold=0.5) == 2
        rows = list(csv.reader(path.open(encoding="utf-8")))
        assert rows == [
            ["patientId", "PredictionString"],
            ["a", "0.9000 10 20 30 40"],
            ["empty", ""],
        ]
        assert read_predictions(path) == {"a": [(0.9, 10, 20, 30, 40)], "empty": []}
        assert [p.name for p in path.parent.iterdir()] == ["sub.csv"]

    def test_labels_round_trip(self, tmp_path: Path) -> None:
        """Labels format: a Target=0 row for an image without detections, plus scores."""
        path = tmp_path / "labels.csv"
        assert write_labels(path, self.results, threshold=0.1) == 3
        labels = read_labels(path)
        assert labels.boxes == {"a": [(10, 20, 30, 40), (0, 0, 5, 5)], "empty": []}
        assert labels.scores == {"a": [0.9, 0.2], "empty": []}

    def test_labels_without_score(self, tmp_path: Path) -> None:
        """with_score=False writes the plain RSNA labels columns."""
        path = tmp_path / "labels.csv"
        write_labels(path, self.results, threshold=0.5, with_score=False)
        assert path.read_text(encoding="utf-8").splitlines()[0] == (
            "patientId,x,y,width,height,Target"
        )

    def test_boxes_without_score(self, tmp_path: Path) -> None:
        """Hand-drawn boxes (no score) beside predictions: empty score cells, read back."""
        path = tmp_path / "review.csv"
        items = {
            "drawn": [(10.0, 20.0, 30.0, 40.0)],
            "mixed": [Detection.from_xywh((1, 2, 3, 4), 0.8), (5.0, 6.0, 7.0, 8.0)],
            "none": [],
        }
        assert write_labels(path, items) == 4
        assert path.read_text(encoding="utf-8").splitlines()[1:] == [
            "drawn,10,20,30,40,1,",
            "mixed,1,2,3,4,1,0.8000",
            "mixed,5,6,7,8,1,",
            "none,,,,,0,",
        ]
        labels = read_labels(path)
        assert labels.problems == []
        assert labels.boxes["mixed"] == [(1, 2, 3, 4), (5, 6, 7, 8)]
        preds = read_predictions(path)
        assert preds["mixed"] == [(0.8, 1, 2, 3, 4)] and preds["drawn"] == []
        assert preds.skipped == 2 and "2 box(es) without a score" in preds.problems[0]


class TestWholeFiles:
    def test_submission_text(self, tmp_path: Path) -> None:
        """The whole submission file, byte for byte: fractional boxes, an empty image."""
        results = [
            DetectionResult(
                "p1",
                [Detection((0.5, 1.25, 10.5, 21.25), 0.61), Detection((2, 3, 7, 9), 0.875)],
                (64, 64),
            ),
            DetectionResult("p2", [Detection((1, 1, 5, 5), 0.3)], (64, 64)),
        ]
        path = tmp_path / "sub.csv"
        assert write_submission(path, results, threshold=0.5) == 2
        assert path.read_bytes() == (
            b"patientId,PredictionString\np1,0.8750 2 3 5 6 0.6100 0.5 1.25 10 20\np2,\n"
        )

    def test_labels_text(self, tmp_path: Path) -> None:
        """The whole labels file without scores (what synth and export write)."""
        path = tmp_path / "labels.csv"
        boxes = {"a": [(10, 20, 30, 40), (1.5, 2.125, 3.3335, 4)], "b": []}
        assert write_labels(path, boxes, with_score=False) == 3
        assert path.read_bytes() == (
            b"patientId,x,y,width,height,Target\na,10,20,30,40,1\na,1.5,2.125,3.333,4,1\nb,,,,,0\n"
        )


class TestFormulaInjection:
    def test_labels_and_submission_neutralise_formula_names(self, tmp_path: Path) -> None:
        """A patientId from ``=HYPERLINK(...).dcm`` is written with a quote and reads back whole."""
        pid = '=HYPERLINK("http://evil.example/x","y")'
        labels = tmp_path / "labels.csv"
        write_labels(labels, {pid: [(1, 2, 3, 4)], "-neg": []}, with_score=False)
        assert labels.read_text(encoding="utf-8").splitlines()[1:] == [
            '"\'=HYPERLINK(""http://evil.example/x"",""y"")",1,2,3,4,1',
            "'-neg,,,,,0",
        ]
        assert read_labels(labels).boxes == {pid: [(1.0, 2.0, 3.0, 4.0)], "-neg": []}
        sub = tmp_path / "sub.csv"
        write_submission(sub, [DetectionResult("@x", [])], 0.5)
        assert sub.read_text(encoding="utf-8").splitlines()[1] == "'@x,"
        assert dict(read_predictions(sub)) == {"@x": []}

    def test_negative_coordinates_stay_numbers(self, tmp_path: Path) -> None:
        """Only text cells are escaped: a box at x=-1.5 is written as -1.5."""
        path = tmp_path / "l.csv"
        write_labels(path, {"p": [(-1.5, 2, 3, 4)]}, with_score=False)
        assert path.read_text(encoding="utf-8").splitlines()[1] == "p,-1.5,2,3,4,1"
