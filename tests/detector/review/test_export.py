"""Export: labels / audit / submission CSVs, the round trip, and `pneumoview export`."""

from __future__ import annotations

import csv
import itertools
import os
from pathlib import Path

import pytest

from detector import cli
from detector.review import ModelInfo, ReviewState, open_session
from detector.review.export import ExportError, export_review
from detector.review.importing import import_labels
from detector.rsna.labels import read_labels, read_predictions


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def reviewed_state(state: ReviewState) -> dict[str, str]:
    """Four reviewed images, one in progress; returns the box ids by role."""
    state.add_image("1/0", "pa", path="/d/pa.dcm", sop_instance_uid="1")
    state.add_image("2/0", "pb", path="/d/pb.dcm", sop_instance_uid="2")
    state.add_image("3/0", "pc")
    state.add_image("4/0", "pd")
    state.add_image("5/0", "pe")
    state.add_model(ModelInfo("demo", "/m/demo.pt", 0.4))
    (gt,) = state.add_ground_truth("1/0", [(10, 10, 40, 50)], "labels.csv")
    (gone,) = state.add_ground_truth("1/0", [(200, 200, 220, 220)], "labels.csv")
    acc, rej, ignored = state.set_predictions(
        "1/0",
        "demo",
        [((50, 60, 80.5, 90.25), 0.91), ((0, 0, 5, 5), 0.45), ((100, 0, 120, 20), 0.3)],
    )
    state.accept(acc.id)
    state.reject(rej.id)
    state.delete(gone.id)
    drawn = state.add_box("1/0", (1.125, 2.5, 33.75, 44))
    state.move(gt.id, (11, 11, 41, 51))
    state.add_seconds("1/0", 42.0)
    state.mark_reviewed("1/0")
    state.set_predictions("2/0", "demo", [((5, 5, 25, 25), 0.8)])
    state.mark_no_opacity("2/0")
    state.add_box("4/0", (0, 0, 10, 10))  # in progress: not exported as labels
    state.add_box("3/0", (12.3456789, 7.0001, 99.99999, 50.5))
    state.mark_reviewed("3/0")
    state.mark_reviewed("5/0")
    return {"gt": gt.id, "acc": acc.id, "rej": rej.id, "drawn": drawn.id, "ignored": ignored.id}


@pytest.fixture
def state() -> ReviewState:
    ticks = itertools.count(1_700_000_000)
    return ReviewState(reviewer="dr_a", clock=lambda: float(next(ticks)))


class TestLabels:
    def test_final_boxes_of_reviewed_images(self, state: ReviewState, tmp_path: Path) -> None:
        reviewed_state(state)
        out = tmp_path / "labels.csv"
        assert export_review(state, out, "labels") == 6
        rows = [tuple(r.values()) for r in read_rows(out)]
        assert rows == [
            ("pa", "11", "11", "30", "40", "1"),
            ("pa", "50", "60", "30.5", "30.25", "1"),
            ("pa", "1.125", "2.5", "32.625", "41.5", "1"),
            ("pb", "", "", "", "", "0"),
            ("pc", "12.346", "7", "87.654", "43.5", "1"),
            ("pe", "", "", "", "", "0"),
        ]

    def test_round_trip_reproduces_the_boxes(self, state: ReviewState, tmp_path: Path) -> None:
        """Export then import gives each reviewed image its final boxes (to 1/1000 pixel)."""
        reviewed_state(state)
        out = tmp_path / "labels.csv"
        export_review(state, out, "labels")
        fresh = ReviewState(reviewer="b")
        for image in state.images.values():
            fresh.add_image(image.key, image.patient_id)
        import_labels(fresh, out)
        got = {key: sorted(b.xyxy for b in fresh.boxes(key)) for key in fresh.images}
        assert got == {
            # moved ground truth, accepted prediction, drawn box; the deleted one is gone
            "1/0": [(1.125, 2.5, 33.75, 44.0), (11.0, 11.0, 41.0, 51.0), (50.0, 60.0, 80.5, 90.25)],
            "2/0": [],  # no opacity
            "3/0": [pytest.approx((12.346, 7.0, 100.0, 50.5), abs=1e-9)],  # 3 decimals
            "4/0": [],  # in progress: not exported
            "5/0": [],  # reviewed without boxes
        }

    def test_read_by_the_labels_reader_without_problems(
        self, state: ReviewState, tmp_path: Path
    ) -> None:
        reviewed_state(state)
        out = tmp_path / "labels.csv"
        export_review(state, out, "labels")
        labels = read_labels(out)
        assert labels.problems == []
        assert {k: len(v) for k, v in labels.boxes.items()} == {"pa": 3, "pb": 0, "pc": 1, "pe": 0}


class TestAudit:
    def test_columns_and_rejected_rows(self, state: ReviewState, tmp_path: Path) -> None:
        ids = reviewed_state(state)
        out = tmp_path / "audit.csv"
        export_review(state, out, "audit")
        rows = {r["box_id"]: r for r in read_rows(out) if r["box_id"]}
        assert rows[ids["acc"]]["source"] == "model"
        assert rows[ids["acc"]]["score"] == "0.9100"
        assert rows[ids["acc"]]["status"] == "accepted"
        assert rows[ids["gt"]]["source"] == "ground_truth"
        assert rows[ids["gt"]]["status"] == "edited"
        assert rows[ids["drawn"]]["source"] == "reviewer"
        assert rows[ids["rej"]]["status"] == "rejected"
        assert rows[ids["rej"]]["Target"] == "0"
        assert ids["ignored"] not in rows  # a proposal never accepted is not a finding
        pa = rows[ids["acc"]]
        assert pa["reviewer"] == "dr_a"
        assert pa["modified"].startswith("2023-11-14T")
        assert (pa["seconds_on_image"], pa["sop_instance_uid"], pa["path"]) == (
            "42.0",
            "1",
            "/d/pa.dcm",
        )
        assert int(pa["edits"]) == 6  # accept, reject, delete, add, move, mark reviewed
        no_box = [r for r in read_rows(out) if r["patientId"] == "pe"]
        assert len(no_box) == 1 and no_box[0]["image_status"] == "reviewed"


class TestSubmission:
    def test_model_boxes_at_threshold(self, state: ReviewState, tmp_path: Path) -> None:
        reviewed_state(state)
        out = tmp_path / "sub.csv"
        export_review(state, out, "submission")  # the model's threshold, 0.4
        preds = read_predictions(out)
        assert preds.problems == []
        assert preds["pa"] == [(0.91, 50.0, 60.0, 30.5, 30.25)]
        assert preds["pb"] == []  # rejected by "no opacity"
        assert "pc" not in preds  # no model ran on it
        export_review(state, out, "submission", threshold=0.2)
        assert [p[0] for p in read_predictions(out)["pa"]] == [0.91, 0.3]

    def test_only_the_current_models_proposals(self, state: ReviewState, tmp_path: Path) -> None:
        key = "9/0"
        state.add_image(key, "pc")
        state.add_model(ModelInfo("old.pt", "/m/old.pt", 0.4))
        state.set_predictions(key, "old.pt", [((0, 0, 10, 10), 0.9)])
        state.add_model(ModelInfo("new.pt", "/m/new.pt", 0.4))
        state.set_predictions(key, "new.pt", [((20, 20, 40, 30), 0.8)])
        out = tmp_path / "sub.csv"
        export_review(state, out, "submission")
        assert read_predictions(out)["pc"] == [(0.8, 20.0, 20.0, 20.0, 10.0)]


class TestChecks:
    def test_unwritable_output_is_refused_before_writing(
        self, state: ReviewState, tmp_path: Path
    ) -> None:
        with pytest.raises(ExportError, match="is a folder"):
            export_review(state, tmp_path, "labels")
        with pytest.raises(ExportError, match="does not exist"):
            export_review(state, tmp_path / "no" / "x.csv", "labels")
        with pytest.raises(ValueError, match="unknown export format"):
            export_review(state, tmp_path / "x.csv", "xml")

    def test_fifo_is_refused_in_one_line(self, state: ReviewState, tmp_path: Path) -> None:
        """A FIFO is not a file to export to: one line naming it, nothing written or blocked."""
        fifo = tmp_path / "pipe.csv"
        os.mkfifo(fifo)
        with pytest.raises(ExportError) as info:
            export_review(state, fifo, "labels")
        assert (
            str(info.value)
            == "pipe.csv: exists and is not a regular file (a FIFO, device or socket)"
        )
        assert info.value.path == str(fifo)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe.csv"]


class TestExportCommand:
    def test_exports_a_session_file(self, tmp_path: Path, capsys) -> None:
        session = tmp_path / "s.sqlite"
        state, store = open_session(session, reviewer="dr_a")
        reviewed_state(state)
        store.close()
        out = tmp_path / "out.csv"
        assert cli.main(["export", str(session), "--out", str(out)]) == 0
        assert "wrote 6 labels row(s)" in capsys.readouterr().err
        assert len(read_labels(out).boxes) == 4

    def test_missing_or_bad_session_is_one_line(self, tmp_path: Path, capsys) -> None:
        out = tmp_path / "out.csv"
        assert cli.main(["export", str(tmp_path / "none.sqlite"), "--out", str(out)]) == 1
        err = capsys.readouterr().err
        assert err.strip().endswith("none.sqlite: file not found") and "Traceback" not in err
        bad = tmp_path / "bad.sqlite"
        bad.write_bytes(b"garbage" * 100)
        assert cli.main(["export", str(bad), "--out", str(out)]) == 1
        assert "not a PneumoView session file" in capsys.readouterr().err
        assert not out.exists()

    def test_bad_output_is_a_usage_error(self, tmp_path: Path, capsys) -> None:
        session = tmp_path / "s.sqlite"
        open_session(session)[1].close()
        assert cli.main(["export", str(session), "--out", str(tmp_path)]) == 2
        assert "is a folder" in capsys.readouterr().err

    def test_fifo_output_is_a_usage_error(self, tmp_path: Path, capsys) -> None:
        session = tmp_path / "s.sqlite"
        open_session(session)[1].close()
        fifo = tmp_path / "pipe.csv"
        os.mkfifo(fifo)
        assert cli.main(["export", str(session), "--out", str(fifo)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--out pipe.csv: exists and is not a regular file" in err[0]


class TestExportFeedsTrainAndEval:
    @pytest.mark.slow
    def test_train_and_eval_read_the_exports(self, tmp_path: Path, capsys) -> None:
        from detector.files.identity import identify
        from detector.synth.phantoms import synthesize

        folder = tmp_path / "study"
        synthesize(folder, 8, size=96, seed=3)
        state = ReviewState(reviewer="dr_a")
        for path in sorted(folder.glob("*.dcm")):
            ident = identify(str(path))
            state.add_image(
                ident.key,
                ident.patient_id,
                path=ident.path,
                sop_instance_uid=ident.sop_instance_uid,
                frame=ident.frame,
            )
        report = import_labels(state, folder / "labels.csv")
        assert report.images == 8 and report.not_open == 0
        for n, key in enumerate(state.images):
            truth = state.boxes(key)
            # A fake model run: the truth shifted by a pixel, plus one false positive.
            state.set_predictions(
                key,
                "demo",
                [((b.xyxy[0] + 1, *b.xyxy[1:]), 0.9) for b in truth] + [((2, 2, 12, 12), 0.6)],
            )
            if truth and n % 2:
                state.move(truth[0].id, tuple(v + 2 for v in truth[0].xyxy))
            state.mark_reviewed(key)
        labels, sub = tmp_path / "reviewed.csv", tmp_path / "sub.csv"
        export_review(state, labels, "labels")
        export_review(state, sub, "submission", threshold=0.5)

        assert cli.main(["eval", "--truth", str(labels), "--pred", str(sub), "--json"]) == 0
        assert '"rsna_map"' in capsys.readouterr().out
        model = tmp_path / "m.pt"
        rc = cli.main(
            [
                "train", "--images", str(folder), "--labels", str(labels), "--out", str(model),
                "--backbone", "mobilenet_v3", "--size", "64", "--epochs", "1",
                "--batch-size", "4", "--augment", "none", "--workers", "0", "--quiet",
                "--val-fraction", "0",
            ]
        )  # fmt: skip
        # No validation split: 8 images give a one-image validation set whose metric is
        # undefined when the untrained model predicts nothing, and train refuses that.
        assert rc == 0
        assert model.is_file()
