"""Export: labels / audit / submission / reviewed-submission CSVs, the round trip, and
`pneumoview export`."""

from __future__ import annotations

import csv
import itertools
import os
from pathlib import Path

import pytest

from detector import cli
from detector.review import ModelInfo, ReviewState, open_session
from detector.review.export import ExportError, export_note, export_review
from detector.review.importing import import_labels
from detector.rsna.labels import read_labels, read_predictions
from tests.detector.files.test_output import dead_pid


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
        # What the model said: the rejected 0.45 box and the one "no opacity" rejected too.
        assert preds["pa"] == [(0.91, 50.0, 60.0, 30.5, 30.25), (0.45, 0.0, 0.0, 5.0, 5.0)]
        assert preds["pb"] == [(0.8, 5.0, 5.0, 20.0, 20.0)]
        assert "pc" not in preds  # no model ran on it
        export_review(state, out, "submission", threshold=0.2)
        assert [p[0] for p in read_predictions(out)["pa"]] == [0.91, 0.45, 0.3]

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


def confirmed_state(state: ReviewState) -> dict[str, str]:
    """Two reviewed images where accepted predictions match ground truth (IoU >= 0.5).

    pa: ground truth G (10,10)-(50,50) and H (200,200)-(220,220); predictions A 0.9
    (12,12)-(50,50) accepted (IoU with G 1444/1600 = 0.9025), B 0.7 accepted (no truth), C 0.6
    undecided, D 0.5 rejected; a drawn box. pb: ground truth K (20,20)-(60,60), prediction E
    0.8 (22,22)-(60,60) accepted, then moved to (24,24)-(64,64) (IoU with K 1296/1904 = 0.68).
    """
    state.add_image("1/0", "pa")
    state.add_image("2/0", "pb")
    state.add_model(ModelInfo("m.pt", "/m/m.pt", 0.4))
    g, h = state.add_ground_truth("1/0", [(10, 10, 50, 50), (200, 200, 220, 220)], "l.csv")
    a, b, _c, d = state.set_predictions(
        "1/0",
        "m.pt",
        [((12, 12, 50, 50), 0.9), ((60, 60, 80, 80), 0.7), ((0, 0, 5, 5), 0.6),
         ((90, 90, 100, 100), 0.5)],
    )  # fmt: skip
    state.accept(a.id)
    state.accept(b.id)
    state.reject(d.id)
    drawn = state.add_box("1/0", (100, 100, 110, 120))
    state.mark_reviewed("1/0")
    (k,) = state.add_ground_truth("2/0", [(20, 20, 60, 60)], "l.csv")
    (e,) = state.set_predictions("2/0", "m.pt", [((22, 22, 60, 60), 0.8)])
    state.accept(e.id)
    state.move(e.id, (24, 24, 64, 64))
    state.mark_reviewed("2/0")
    return {"g": g.id, "h": h.id, "a": a.id, "b": b.id, "d": d.id, "k": k.id, "e": e.id,
            "drawn": drawn.id}  # fmt: skip


class TestConfirmedLesions:
    """An accepted prediction matching ground truth at the compare IoU is one lesion."""

    def test_labels_hold_one_row_per_lesion(self, state: ReviewState, tmp_path: Path) -> None:
        confirmed_state(state)
        out = tmp_path / "labels.csv"
        assert export_review(state, out, "labels") == 5
        assert out.read_text() == (
            "patientId,x,y,width,height,Target\n"
            "pa,10,10,40,40,1\n"  # G confirmed by A: the ground truth's geometry
            "pa,200,200,20,20,1\n"  # H: no prediction
            "pa,60,60,20,20,1\n"  # B: accepted, no ground truth
            "pa,100,100,10,20,1\n"  # drawn
            "pb,24,24,40,40,1\n"  # K confirmed by E, which the reader moved: E's geometry
        )

    def test_the_compare_iou_decides(self, state: ReviewState, tmp_path: Path) -> None:
        """At IoU 0.95 A (0.9025) and E (0.68) confirm nothing: each is its own row."""
        confirmed_state(state)
        out = tmp_path / "labels.csv"
        assert export_review(state, out, "labels", iou_threshold=0.95) == 7
        assert out.read_text() == (
            "patientId,x,y,width,height,Target\n"
            "pa,10,10,40,40,1\n"
            "pa,200,200,20,20,1\n"
            "pa,12,12,38,38,1\n"
            "pa,60,60,20,20,1\n"
            "pa,100,100,10,20,1\n"
            "pb,20,20,40,40,1\n"
            "pb,24,24,40,40,1\n"
        )
        with pytest.raises(ValueError, match="IoU threshold"):
            export_review(state, out, "labels", iou_threshold=0.0)

    def test_a_removed_ground_truth_box_is_not_confirmed(
        self, state: ReviewState, tmp_path: Path
    ) -> None:
        ids = confirmed_state(state)
        state.delete(ids["g"])
        out = tmp_path / "labels.csv"
        export_review(state, out, "labels")
        assert out.read_text().splitlines()[1:4] == [
            "pa,200,200,20,20,1",
            "pa,12,12,38,38,1",  # A stands for itself
            "pa,60,60,20,20,1",
        ]

    def test_audit_keeps_both_rows_with_the_relation(
        self, state: ReviewState, tmp_path: Path
    ) -> None:
        ids = confirmed_state(state)
        out = tmp_path / "audit.csv"
        export_review(state, out, "audit")
        names = {v: k for k, v in ids.items()}
        rows = [
            (names[r["box_id"]], r["x"], r["Target"], r["status"], names.get(r["confirms"], ""))
            for r in read_rows(out)
        ]
        assert rows == [
            ("g", "10", "1", "confirmed", ""),
            ("h", "200", "1", "ground truth", ""),
            ("a", "12", "1", "accepted", "g"),
            ("b", "60", "1", "accepted", ""),
            ("drawn", "100", "1", "added", ""),
            ("d", "90", "0", "rejected", ""),
            ("k", "20", "1", "confirmed", ""),
            ("e", "24", "1", "edited", "k"),
        ]

    def test_submission_is_what_the_model_said(self, state: ReviewState, tmp_path: Path) -> None:
        """Accepted, moved, rejected and undecided proposals alike, as proposed."""
        confirmed_state(state)
        out = tmp_path / "sub.csv"
        assert export_review(state, out, "submission") == 2
        assert out.read_text() == (
            "patientId,PredictionString\n"
            "pa,0.9000 12 12 38 38 0.7000 60 60 20 20 0.6000 0 0 5 5 0.5000 90 90 10 10\n"
            "pb,0.8000 22 22 38 38\n"
        )
        export_review(state, out, "submission", threshold=0.65)
        assert out.read_text().splitlines()[1] == "pa,0.9000 12 12 38 38 0.7000 60 60 20 20"

    def test_reviewed_submission_is_the_labels_with_scores(
        self, state: ReviewState, tmp_path: Path
    ) -> None:
        """Drawn and ground-truth boxes score 1.0, the undecided C (0.6) is left out."""
        confirmed_state(state)
        state.add_image("3/0", "pc")
        state.mark_no_opacity("3/0")
        out = tmp_path / "rsub.csv"
        assert export_review(state, out, "reviewed-submission") == 3
        assert out.read_text() == (
            "patientId,PredictionString\n"
            "pa,1.0000 200 200 20 20 1.0000 100 100 10 20 0.9000 10 10 40 40 0.7000 60 60 20 20\n"
            "pb,0.8000 24 24 40 40\n"
            "pc,\n"
        )

    def test_the_note_states_the_rule(self, state: ReviewState) -> None:
        confirmed_state(state)
        assert export_note(state, "labels") == (
            "2 ground-truth box(es) confirmed by an accepted prediction at IoU >= 0.50: one row "
            "each (the ground truth's geometry, the reader's where the accepted box was moved); "
            "undecided predictions left out"
        )
        assert export_note(state, "submission") == (
            "the model's output: m.pt's proposals with score >= 0.40 as proposed, accepted, "
            "moved and rejected alike"
        )

    def test_the_proposed_geometry_survives_a_restart(self, tmp_path: Path, capsys) -> None:
        session = tmp_path / "s.sqlite"
        state, store = open_session(session, reviewer="dr_a")
        confirmed_state(state)
        store.close()
        out = tmp_path / "sub.csv"
        assert cli.main(["export", str(session), "--out", str(out), "--format", "submission"]) == 0
        assert out.read_text().splitlines()[2] == "pb,0.8000 22 22 38 38"
        assert "m.pt's proposals with score >= 0.40" in capsys.readouterr().err
        args = ["export", str(session), "--out", str(out), "--format", "labels", "--iou", "0.95"]
        assert cli.main(args) == 0
        assert "0 ground-truth box(es) confirmed" in capsys.readouterr().err
        assert len(out.read_text().splitlines()) == 8
        assert cli.main([*args[:-1], "1.5"]) == 2


class TestChecks:
    def test_temp_files_of_a_killed_export_are_removed(self, tmp_path: Path) -> None:
        """Two ``.pv-<dead pid>-*.tmp`` files of a killed export are gone after the next
        ``pneumoview export``; other files stay (issue 21.11)."""
        session = tmp_path / "s.sqlite"
        state, store = open_session(session, reviewer="dr_a")
        reviewed_state(state)
        store.close()
        pid = dead_pid()
        stale = [tmp_path / f".pv-{pid}-a1b2c3.tmp", tmp_path / f".pv-{pid}-zz_9.tmp"]
        for path in stale:
            path.write_bytes(b"x" * 4096)
        (tmp_path / "keep.tmp").write_text("mine")
        out = tmp_path / "labels.csv"
        assert cli.main(["export", str(session), "--out", str(out)]) == 0
        assert [p.exists() for p in stale] == [False, False]
        assert (tmp_path / "keep.tmp").read_text() == "mine"
        assert out.is_file()

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


class TestFormulaInjection:
    def test_reviewer_and_names_are_neutralised(self, tmp_path: Path) -> None:
        """A LOGNAME of ``=cmd|' /C calc'!A0`` and a ``=HYPERLINK`` file name are written as
        quoted text in labels, audit and submission, and read back whole (issue 21.4)."""
        logname = "=cmd|' /C calc'!A0"
        pid = '=HYPERLINK("http://evil.example/x","y")'
        state = ReviewState(reviewer=logname, clock=lambda: 1_700_000_000.0)
        state.add_image("1/0", pid, path=f"/d/{pid}.dcm", sop_instance_uid="1")
        state.add_model(ModelInfo("demo", "/m/demo.pt", 0.4))
        state.set_predictions("1/0", "demo", [((5, 5, 25, 25), 0.8)])
        state.add_box("1/0", (1, 2, 11, 22))
        state.mark_reviewed("1/0")
        audit = tmp_path / "audit.csv"
        export_review(state, audit, "audit")
        (row,) = read_rows(audit)
        assert row["patientId"] == "'" + pid
        assert row["reviewer"] == "'" + logname
        assert row["path"] == f"/d/{pid}.dcm"  # starts with /: not a formula
        labels = tmp_path / "labels.csv"
        export_review(state, labels, "labels")
        assert read_labels(labels).boxes == {pid: [(1.0, 2.0, 10.0, 20.0)]}
        sub = tmp_path / "sub.csv"
        export_review(state, sub, "submission")
        assert read_rows(sub)[0]["patientId"] == "'" + pid
        assert list(read_predictions(sub)) == [pid]


class TestUnwritableBoxes:
    def test_narrow_and_huge_boxes_are_left_out_with_a_line(self, tmp_path: Path) -> None:
        """A box 0.0004 px wide (width 0 at 1/1000 px) and one with ±1.7e308 corners (width
        inf) are left out with a line naming the image; the file reads back without a bad row
        (issue 21.12)."""
        state = ReviewState(reviewer="dr_a", clock=lambda: 1_700_000_000.0)
        state.add_image("1/0", "thin", path="/d/thin.dcm", sop_instance_uid="1")
        state.add_image("2/0", "huge", path="/d/huge.dcm", sop_instance_uid="2")
        state.add_box("1/0", (10, 10, 10.0004, 30))
        state.add_box("1/0", (1, 2, 11, 22))
        state.add_box("2/0", (-1.7e308, 0, 1.7e308, 10))
        state.mark_reviewed("1/0")
        state.mark_reviewed("2/0")
        for fmt in ("labels", "audit", "reviewed-submission"):
            out = tmp_path / f"{fmt}.csv"
            problems: list[str] = []
            export_review(state, out, fmt, problems=problems)
            assert problems[0].startswith("image thin (/d/thin.dcm): box (x=10, y=10, width=0.0004")
            assert problems[0].endswith("has no width or height at 1/1000 pixel; left out")
            assert problems[1].startswith("image huge (/d/huge.dcm): box (x=-1.7e+308")
            assert "is not finite; left out" in problems[1]
            if fmt == "audit":
                assert [r["patientId"] for r in read_rows(out)] == ["thin"]
            else:
                assert problems[2] == (
                    "image huge (/d/huge.dcm): no box left to write; the image is left out"
                )
        labels = read_labels(tmp_path / "labels.csv")
        assert labels.boxes == {"thin": [(1.0, 2.0, 10.0, 20.0)]} and labels.skipped == 0
        preds = read_predictions(tmp_path / "reviewed-submission.csv")
        assert dict(preds) == {"thin": [(1.0, 1.0, 2.0, 10.0, 20.0)]} and preds.skipped == 0


class TestNonUtf8Names:
    def test_in_memory_review_exports_the_name_as_its_bytes(self, tmp_path: Path) -> None:
        """A review of ``caf\\xe9-latin1.dcm`` beside a good image exports both; the labels
        file holds the name's own bytes and reads back to the same patientId (issue 21.5)."""
        latin1 = os.fsdecode(b"/d/caf\xe9-latin1.dcm")
        pid = os.fsdecode(b"caf\xe9-latin1")
        state = ReviewState(reviewer="dr_a")
        state.add_image(f"path:{latin1}/0", pid, path=latin1)
        state.add_image("1/0", "good", path="/d/good.dcm", sop_instance_uid="1")
        state.add_box(f"path:{latin1}/0", (1, 2, 11, 22))
        state.mark_reviewed(f"path:{latin1}/0")
        state.mark_no_opacity("1/0")
        out = tmp_path / "labels.csv"
        assert export_review(state, out, "labels") == 2
        assert b"\ncaf\xe9-latin1,1,2,10,20,1\n" in out.read_bytes()
        assert read_labels(out).boxes == {pid: [(1.0, 2.0, 10.0, 20.0)], "good": []}

    def test_session_registers_a_non_utf8_name(self, tmp_path: Path) -> None:
        """A session file takes ``caf\\xe9-latin1.dcm`` beside a good image and reopens it."""
        latin1 = os.fsdecode(b"/d/caf\xe9-latin1.dcm")
        state, store = open_session(tmp_path / "s.sqlite", reviewer="dr_a")
        try:
            state.add_image("1/0", "good", path="/d/good.dcm", sop_instance_uid="1")
            state.add_image(f"path:{latin1}/0", os.fsdecode(b"caf\xe9-latin1"), path=latin1)
        finally:
            store.close()
        again, store = open_session(tmp_path / "s.sqlite")
        store.close()
        assert sorted(again.images) == ["1/0", f"path:{latin1}/0"]
