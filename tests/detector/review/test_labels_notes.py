"""Per-box label and flag, the image note: the model, undo, the session file (schema 4 and
the migration from 3) and the audit export."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from detector.review import ReviewError, ReviewState, open_session
from detector.review.export import export_review
from detector.review.importing import import_classes
from detector.review.store import MIGRATIONS

A, B = "1.2.3/0", "1.2.4/0"


class TestLabelSet:
    def test_default_then_imported_classes(self, state: ReviewState) -> None:
        assert state.label_set() == ["Lung Opacity"]
        state.set_rsna_classes({A: "Normal", B: "No Lung Opacity / Not Normal"})
        assert state.label_set() == ["Lung Opacity", "No Lung Opacity / Not Normal", "Normal"]

    def test_a_class_csv_adds_its_classes_even_of_patients_not_open(
        self, state: ReviewState, tmp_path: Path
    ) -> None:
        classes = tmp_path / "class_info.csv"
        classes.write_text("patientId,class\npa,Lung Opacity\nzz,Normal\n")
        import_classes(state, classes)
        assert state.label_set() == ["Lung Opacity", "Normal"]

    def test_add_labels_leaves_out_empty_and_long_ones(self, state: ReviewState) -> None:
        assert state.add_labels(["Nodule", "", "x" * 65, "Nodule", "Lung Opacity"]) == ["Nodule"]
        assert state.label_set() == ["Lung Opacity", "Nodule"]

    def test_an_image_with_no_boxes_has_none_labelled(self, state: ReviewState) -> None:
        assert state.boxes(A) == []
        assert state.image(A).note == ""


class TestSetBoxLabel:
    def test_new_boxes_carry_the_default_label(self, state: ReviewState) -> None:
        box = state.add_box(A, (0, 0, 5, 5))
        assert (box.label, box.flag) == ("Lung Opacity", "")

    def test_label_is_one_undo_step(self, state: ReviewState) -> None:
        state.set_rsna_class(A, "Normal")
        box = state.add_box(A, (0, 0, 5, 5))
        state.set_box_label(box.id, "Normal")
        assert state.box(box.id).label == "Normal"
        assert state.undo() == "label box"
        assert state.box(box.id).label == "Lung Opacity"
        assert state.redo() == "label box"
        assert state.box(box.id).label == "Normal"

    def test_a_label_outside_the_set_is_refused(self, state: ReviewState) -> None:
        box = state.add_box(A, (0, 0, 5, 5))
        with pytest.raises(ReviewError, match=r"'Cat' is not in this session's label set"):
            state.set_box_label(box.id, "Cat")
        assert state.box(box.id).label == "Lung Opacity"


class TestSetBoxFlag:
    def test_equivocal_and_back_with_undo(self, state: ReviewState) -> None:
        box = state.add_box(A, (0, 0, 5, 5))
        state.set_box_flag(box.id, "equivocal")
        assert state.box(box.id).flag == "equivocal"
        state.set_box_flag(box.id, "")
        assert state.box(box.id).flag == ""
        assert state.undo() == "unflag box"
        assert state.box(box.id).flag == "equivocal"
        assert state.undo() == "flag box"
        assert state.box(box.id).flag == ""

    def test_unknown_flag_refused(self, state: ReviewState) -> None:
        box = state.add_box(A, (0, 0, 5, 5))
        with pytest.raises(ReviewError, match="a box flag is one of"):
            state.set_box_flag(box.id, "maybe")


class TestSetImageNote:
    def test_note_and_undo(self, state: ReviewState) -> None:
        state.set_image_note(A, "  compare with prior  ")
        assert state.image(A).note == "compare with prior"
        state.set_image_note(A, "old film\nrotated")
        assert state.image(A).note == "old film rotated"
        assert state.undo() == "note"
        assert state.image(A).note == "compare with prior"
        assert state.undo() == "note"
        assert state.image(A).note == ""
        assert state.image(B).note == ""

    def test_undo_of_a_note_keeps_the_status(self, state: ReviewState) -> None:
        state.mark_reviewed(A)
        state.set_image_note(A, "fine")
        state.undo()
        assert state.image(A).status.value == "reviewed" and state.image(A).note == ""

    def test_too_long_refused(self, state: ReviewState) -> None:
        with pytest.raises(ReviewError, match="1001 characters; at most 1000"):
            state.set_image_note(A, "x" * 1001)
        assert state.image(A).note == ""


class TestStore:
    def test_round_trip(self, tmp_path: Path) -> None:
        path = tmp_path / "s.sqlite"
        state, store = open_session(path)
        state.add_image(A, "pa")
        state.set_rsna_class(A, "Normal")
        box = state.add_box(A, (0, 0, 5, 5))
        plain = state.add_box(A, (10, 10, 15, 15))
        state.set_box_label(box.id, "Normal")
        state.set_box_flag(box.id, "equivocal")
        state.set_image_note(A, "rotated, repeat PA")
        state.add_labels(["Nodule"])
        store.close()
        again, store2 = open_session(path)
        store2.close()
        assert (again.box(box.id).label, again.box(box.id).flag) == ("Normal", "equivocal")
        assert (again.box(plain.id).label, again.box(plain.id).flag) == ("Lung Opacity", "")
        assert again.image(A).note == "rotated, repeat PA"
        assert again.label_set() == ["Lung Opacity", "Nodule", "Normal"]

    def test_a_bad_flag_in_the_file_is_one_line(self, tmp_path: Path) -> None:
        path = tmp_path / "s.sqlite"
        state, store = open_session(path)
        state.add_image(A, "pa")
        state.add_box(A, (0, 0, 5, 5))
        store.close()
        db = sqlite3.connect(path)
        db.execute("UPDATE boxes SET flag = 'bogus'")
        db.commit()
        db.close()
        again, store2 = open_session(path)  # that box is quarantined, the rest opens
        try:
            assert again.boxes(A) == []
            assert len(store2.quarantined) == 1
            assert "unknown box flag" in store2.quarantined[0]
        finally:
            store2.close()

    def test_a_version_3_file_is_migrated(self, tmp_path: Path) -> None:
        """A version 3 file's boxes read as "Lung Opacity" without a flag, its images without a
        note, and take labels, flags and notes from then on."""
        path = tmp_path / "v3.sqlite"
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("CREATE TABLE migrations (version INTEGER PRIMARY KEY, applied REAL)")
        db.execute("INSERT INTO meta VALUES ('app', 'pneumoview-review')")
        db.execute("INSERT INTO meta VALUES ('schema_version', '3')")
        for version in (1, 2, 3):
            MIGRATIONS[version](db)
            db.execute("INSERT INTO migrations VALUES (?, 0)", (version,))
        db.execute(
            "INSERT INTO images VALUES "
            "('1.2.3/0', 'pa', '/d/pa.dcm', '1.2.3', 0, 'reviewed', 5, 1, 'dr_a', 0, '[]', '')"
        )
        db.execute(
            "INSERT INTO boxes VALUES ('b1', '1.2.3/0', 'reviewer', 1, 2, 30, 40, NULL, "
            "'added', '', 'dr_a', 0, 0, NULL, NULL, NULL, NULL)"
        )
        db.commit()
        db.close()

        state, store = open_session(path)
        box = state.box("b1")
        assert (box.xyxy, box.label, box.flag) == ((1.0, 2.0, 30.0, 40.0), "Lung Opacity", "")
        assert state.image(A).note == "" and state.label_set() == ["Lung Opacity"]
        state.add_labels(["Nodule"])
        state.set_box_label("b1", "Nodule")
        state.set_box_flag("b1", "equivocal")
        state.set_image_note(A, "migrated")
        store.close()
        again, store2 = open_session(path)
        store2.close()
        assert (again.box("b1").label, again.box("b1").flag) == ("Nodule", "equivocal")
        assert again.image(A).note == "migrated"
        db = sqlite3.connect(path)
        assert dict(db.execute("SELECT key, value FROM meta"))["schema_version"] == "4"
        assert [r[0] for r in db.execute("SELECT version FROM migrations")] == [1, 2, 3, 4]
        db.close()


class TestAuditColumns:
    def test_label_flag_and_note_written(self, state: ReviewState, tmp_path: Path) -> None:
        state.set_rsna_class(A, "Normal")
        box = state.add_box(A, (10, 20, 40, 60))
        state.set_box_label(box.id, "Normal")
        state.set_box_flag(box.id, "equivocal")
        state.set_image_note(A, 'old film, "rotated"')
        state.mark_reviewed(A)
        state.set_image_note(B, "clear")
        state.mark_no_opacity(B)
        out = tmp_path / "audit.csv"
        export_review(state, out, "audit")
        lines = out.read_text(encoding="utf-8").splitlines()
        assert lines[0].endswith(",box_id,confirms,label,flag,image_note")
        assert lines[1] == (
            "pa,10,20,30,40,1,reviewer,,added,dr_a,1970-01-01T00:16:49+00:00,0.0,5,reviewed,"
            f'1.2.3,/d/pa.dcm,{box.id},,Normal,equivocal,"old film, ""rotated"""'
        )
        assert lines[2].startswith("pb,,,,,0,reviewer,,no_opacity,dr_a,")
        assert lines[2].endswith(",no_opacity,1.2.4,/d/pb.dcm,,,,,clear")
        assert len(lines) == 3
