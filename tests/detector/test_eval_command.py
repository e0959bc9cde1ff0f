"""``pneumoview eval`` on hand-made CSVs with known answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detector import cli
from tests.conftest import chest_like

TRUTH = (
    "patientId,x,y,width,height,Target\n"
    "pos1,100,100,100,100,1\n"
    "pos2,300,300,100,100,1\n"
    "pos2,100,100,100,100,1\n"
    "neg1,,,,,0\n"
    "neg2,,,,,0\n"
)


def run_json(tmp_path: Path, pred_text: str, *extra: str, capsys) -> tuple[int, dict]:
    code, out, _err = run_json_err(tmp_path, pred_text, *extra, capsys=capsys)
    return code, out


def run_json_err(tmp_path: Path, pred_text: str, *extra: str, capsys) -> tuple[int, dict, str]:
    truth = tmp_path / "truth.csv"
    truth.write_text(TRUTH, encoding="utf-8")
    pred = tmp_path / "pred.csv"
    pred.write_text(pred_text, encoding="utf-8")
    code = cli.main(["eval", "--truth", str(truth), "--pred", str(pred), "--json", *extra])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


class TestEvalCommand:
    def test_perfect_submission(self, tmp_path: Path, capsys) -> None:
        """Every box found and nothing on normal images: all metrics 1."""
        pred = (
            "patientId,PredictionString\n"
            "pos1,0.9 100 100 100 100\n"
            "pos2,0.8 300 300 100 100 0.7 100 100 100 100\n"
            "neg1,\n"
            "neg2,\n"
        )
        code, out = run_json(tmp_path, pred, capsys=capsys)
        assert code == 0
        for key in ("rsna_map", "map50", "precision", "recall", "f1", "sensitivity", "specificity"):
            assert out[key] == 1.0, key
        assert out["images"] == 4
        assert out["threshold"] is None  # scored as it is
        assert len(out["sweep"]) == 19

    def test_shifted_missed_extra_and_empty(self, tmp_path: Path, capsys) -> None:
        """Known answer: shifted box 0.5, one of two found 0.5, normal with a box 0, normal empty skipped."""
        pred = (
            "patientId,x,y,width,height,Target,score\n"
            "pos1,125,100,100,100,1,0.9\n"  # IoU 0.6 -> 4 of 8 thresholds
            "pos2,300,300,100,100,1,0.9\n"  # one of two boxes: 1/2
            "neg1,10,10,50,50,1,0.6\n"  # extra box on a normal image: 0
            "neg2,,,,,0,\n"  # skipped
        )
        code, out = run_json(tmp_path, pred, capsys=capsys)
        assert code == 0
        assert out["rsna_map"] == pytest.approx((0.5 + 0.5 + 0.0) / 3)
        assert out["images_scored"] == 3
        # Box level at IoU 0.5: pos1 hit (0.6), pos2 one hit one miss, neg1 false positive.
        assert (out["tp"], out["fp"], out["fn"]) == (2, 1, 1)
        assert out["sensitivity"] == 1.0
        assert out["specificity"] == 0.5
        assert out["prediction_format"] == "labels"

    def test_threshold_option(self, tmp_path: Path, capsys) -> None:
        """--threshold drops the 0.6 stray box, making the normal image correct."""
        pred = (
            "patientId,PredictionString\n"
            "pos1,0.9 100 100 100 100\n"
            "pos2,0.8 300 300 100 100 0.7 100 100 100 100\n"
            "neg1,0.6 10 10 50 50\n"
        )
        _code, low = run_json(tmp_path, pred, "--threshold", "0.5", capsys=capsys)
        _code, high = run_json(tmp_path, pred, "--threshold", "0.65", capsys=capsys)
        assert low["rsna_map"] == pytest.approx(2 / 3)
        assert high["rsna_map"] == 1.0
        assert low["best_threshold"] == 0.65

    def test_bad_rows_are_reported_with_line_numbers(self, tmp_path: Path, capsys) -> None:
        """A malformed prediction row is named with its line; the rest is evaluated (exit 1)."""
        truth = tmp_path / "truth.csv"
        truth.write_text(TRUTH, encoding="utf-8")
        pred = tmp_path / "pred.csv"
        pred.write_text("patientId,PredictionString\npos1,0.9 100 100\npos2,0.8 300 300 100 100\n")
        code = cli.main(["eval", "--truth", str(truth), "--pred", str(pred)])
        captured = capsys.readouterr()
        assert code == 1
        assert "pred.csv:2: PredictionString has 3 values" in captured.err
        assert "RSNA metric" in captured.out

    def test_plots(self, tmp_path: Path, capsys) -> None:
        """--plot writes the PR curve and the metric-vs-threshold PNGs."""
        pred = "patientId,PredictionString\npos1,0.9 100 100 100 100\nneg1,0.3 1 1 20 20\n"
        plots = tmp_path / "plots"
        code, out = run_json(tmp_path, pred, "--plot", str(plots), capsys=capsys)
        assert code == 0
        for name in ("pr_curve.png", "metrics_vs_threshold.png"):
            data = (plots / name).read_bytes()
            assert data.startswith(b"\x89PNG")
        assert sorted(Path(p).name for p in out["plots"]) == [
            "metrics_vs_threshold.png",
            "pr_curve.png",
        ]

    def test_unusable_files(self, tmp_path: Path, capsys) -> None:
        """A missing truth file or a predictions file without scores: exit 1 naming the file."""
        pred = tmp_path / "pred.csv"
        pred.write_text("patientId,x,y,width,height,Target\npos1,1,1,5,5,1\n")
        code = cli.main(["eval", "--truth", str(tmp_path / "none.csv"), "--pred", str(pred)])
        assert code == 1
        assert "none.csv: file not found" in capsys.readouterr().err
        truth = tmp_path / "truth.csv"
        truth.write_text(TRUTH)
        code = cli.main(["eval", "--truth", str(truth), "--pred", str(pred)])
        assert code == 1
        assert "pred.csv: no score column" in capsys.readouterr().err

    def test_text_report(self, tmp_path: Path, capsys) -> None:
        """Without --json a readable table with the sweep is printed."""
        truth = tmp_path / "truth.csv"
        truth.write_text(TRUTH, encoding="utf-8")
        pred = tmp_path / "pred.csv"
        pred.write_text("patientId,PredictionString\npos1,0.9 100 100 100 100\n")
        assert cli.main(["eval", "--truth", str(truth), "--pred", str(pred)]) == 0
        out = capsys.readouterr().out
        assert "mAP@0.5" in out and "best threshold" in out
        assert "     0.95" in out


class TestEvalImageSet:
    PRED = "patientId,PredictionString\npos1,0.9 100 100 100 100\nneg1,\n"

    def test_only_predicted_images_by_default(self, tmp_path: Path, capsys) -> None:
        """Images the detector was not run on (no row) are not scored by default."""
        code, out = run_json(tmp_path, self.PRED, capsys=capsys)
        assert code == 0
        assert out["images"] == 2 and out["rsna_map"] == 1.0
        assert out["missing_predictions"] == 2

    def test_all_truth_scores_missing_rows_as_no_findings(self, tmp_path: Path, capsys) -> None:
        """--all-truth scores every truth image; missing rows find nothing."""
        code, out = run_json(tmp_path, self.PRED, "--all-truth", capsys=capsys)
        assert code == 0
        assert out["images"] == 4
        assert out["rsna_map"] == pytest.approx(0.5)  # pos1 = 1, pos2 = 0, neg1/neg2 skipped

    def test_no_overlap_is_an_error(self, tmp_path: Path, capsys) -> None:
        """A prediction file for other images entirely fails with one line."""
        truth = tmp_path / "truth.csv"
        truth.write_text(TRUTH, encoding="utf-8")
        pred = tmp_path / "pred.csv"
        pred.write_text("patientId,PredictionString\nother,\n", encoding="utf-8")
        assert cli.main(["eval", "--truth", str(truth), "--pred", str(pred)]) == 1
        assert "no prediction row matches an image of truth.csv" in capsys.readouterr().err


class TestEvalAsIs:
    def test_without_threshold_every_box_counts(self, tmp_path: Path, capsys) -> None:
        """A 0.3 box is scored when no --threshold is given (the challenge scores the file)."""
        pred = "patientId,PredictionString\npos1,0.3 100 100 100 100\nneg1,\n"
        code, out = run_json(tmp_path, pred, capsys=capsys)
        assert code == 0
        assert out["rsna_map"] == 1.0 and out["predictions"] == 1
        _code, cut = run_json(tmp_path, pred, "--threshold", "0.5", capsys=capsys)
        assert cut["rsna_map"] == 0.0 and cut["predictions"] == 0

    def test_sweep_is_an_aligned_table_with_the_plateau_middle(self, tmp_path: Path, capsys):
        """The sweep prints as a table; the best row is the middle of the best plateau."""
        truth = tmp_path / "truth.csv"
        truth.write_text(TRUTH, encoding="utf-8")
        pred = tmp_path / "pred.csv"
        pred.write_text(
            "patientId,PredictionString\npos1,0.9 100 100 100 100\nneg1,0.3 1 1 20 20\n",
            encoding="utf-8",
        )
        assert cli.main(["eval", "--truth", str(truth), "--pred", str(pred)]) == 0
        text = capsys.readouterr().out
        lines = text.splitlines()
        head = next(i for i, line in enumerate(lines) if line.strip().startswith("threshold"))
        table = lines[head : head + 21]
        assert table[0].split() == [
            "threshold", "RSNA", "precision", "recall", "F1", "TP", "FP", "FN",
            "sensitivity", "specificity",
        ]  # fmt: skip
        assert len({len(line.replace("  <- best", "")) for line in table}) == 1
        [best] = [line for line in table if line.endswith("<- best")]
        assert best.split()[0] == "0.60"  # plateau 0.35..0.90, not its lowest 0.35
        assert "best threshold for the RSNA metric: 0.60" in text

    def test_bad_prediction_row_still_counts_the_image(self, tmp_path: Path, capsys) -> None:
        """pos1's row is broken: reported with its line, and pos1 scores 0 (not dropped)."""
        pred = "patientId,PredictionString\npos1,0.9 100 100\npos2,0.8 300 300 100 100\n"
        code, out, err = run_json_err(tmp_path, pred, capsys=capsys)
        assert code == 1
        assert out["images"] == 2
        assert out["rsna_map"] == pytest.approx((0.0 + 0.5) / 2)
        assert "pred.csv:2: PredictionString has 3 values" in err

    def test_boxes_outside_the_image_are_reported(self, tmp_path: Path, make_dicom, capsys):
        """With --images each box is checked against its image, worded as train words it."""
        images = tmp_path / "images"
        make_dicom("pos1.dcm", chest_like(150), folder=images)
        pred = "patientId,PredictionString\npos1,0.9 100 100 100 100\nneg1,0.5 -40 5 20 20\n"
        code, out, err = run_json_err(tmp_path, pred, "--images", str(images), capsys=capsys)
        assert code == 1 and out["outside_boxes"] == 3
        assert (
            "truth.csv:2: box (x=100, y=100, width=100, height=100) lies outside the 150x150 "
            "image pos1"
        ) in err
        assert (
            "pred.csv:2: box (x=100, y=100, width=100, height=100) lies outside the 150x150" in err
        )
        assert (
            "pred.csv:3: box (x=-40, y=5, width=20, height=20) lies outside the image neg1" in err
        )

    def test_plot_onto_a_file_is_a_usage_error(self, tmp_path: Path, capsys) -> None:
        """--plot naming an existing file: exit 2 before reading anything."""
        (tmp_path / "plots").write_text("x")
        code = cli.main(
            [
                "eval",
                "--truth",
                str(tmp_path / "t.csv"),
                "--pred",
                "p.csv",
                "--plot",
                str(tmp_path / "plots"),
            ]
        )
        assert code == 2
        assert "not a folder" in capsys.readouterr().err


class TestHugeBoxes:
    def test_overflowing_boxes_are_bad_rows_not_numpy_warnings(
        self, tmp_path: Path, capsys
    ) -> None:
        """±1.7e308 corners are reported as bad rows in one line each; no raw numpy overflow
        warning (pytest turns one into an error) and the images are still counted (21.12)."""
        pred = (
            "patientId,PredictionString\n"
            "pos1,0.9 1.7e308 0 1.7e308 10\n"
            "pos2,0.8 -1.7e308 -1.7e308 1.7e308 1.7e308\n"
        )
        code, out, err = run_json_err(tmp_path, pred, capsys=capsys)
        assert code == 1  # bad rows
        assert "pred.csv:2: box too large: its corner or area is not a finite number" in err
        assert "pred.csv:3: box too large" in err
        assert "Warning" not in err and "overflow" not in err
        assert out["images"] == 2 and out["recall"] == 0.0
