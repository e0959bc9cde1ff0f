"""The SQLite session file: write-through, reopen, SIGKILL, untrusted files."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from detector.review import (
    SCHEMA_VERSION,
    BoxKind,
    BoxStatus,
    ImageReview,
    ImageStatus,
    ModelInfo,
    SessionError,
    default_session_path,
    open_session,
)
from detector.review.store import MIGRATIONS

A = "1.2.3/0"
GROUND_TRUTH, PREDICTION, REVIEWER = BoxKind.GROUND_TRUTH, BoxKind.PREDICTION, BoxKind.REVIEWER
ROOT = Path(__file__).resolve().parents[3]


class TestOpenSession:
    def test_reopen_restores_everything(self, tmp_path: Path) -> None:
        """Every box, image, model and kept ground-truth box comes back as it was written."""
        path = tmp_path / "s.sqlite"
        now = 1_700_000_000.0
        state, store = open_session(path, reviewer="dr_a", clock=lambda: now)
        state.add_image(A, "pa", path="/d/pa.dcm", sop_instance_uid="1.2.3")
        state.add_image("1.2.4/0", "pb")
        state.add_model(ModelInfo("demo", "/m/demo.pt", 0.35, {"arch": "retinanet", "n": [1, 2]}))
        p1, p2 = state.set_predictions(A, "demo", [((0, 0, 9, 9), 0.9), ((20, 20, 29, 29), 0.8)])
        state.import_ground_truth({A: [(40, 40, 50, 50)]}, "labels.csv", {"gone": [(1, 1, 2, 2)]})
        state.accept(p1.id)
        state.reject(p2.id)
        drawn = state.add_box(A, (60, 60, 70, 70))
        state.mark_no_opacity("1.2.4/0")
        state.add_seconds(A, 12.5)
        state.set_rsna_class(A, "Lung Opacity")
        store.close()

        again, store2 = open_session(path, reviewer="dr_b")
        try:
            boxes = {
                (b.kind, b.xyxy, b.score, b.status, b.origin, b.author, b.created, b.modified)
                for b in again.boxes()
            }
            assert boxes == {
                (REVIEWER, (0.0, 0.0, 9.0, 9.0), 0.9, BoxStatus.ACCEPTED, "demo", "dr_a", now, now),
                (PREDICTION, (20.0, 20.0, 29.0, 29.0), 0.8, BoxStatus.REJECTED, "demo", "dr_a", now, now),
                (GROUND_TRUTH, (40.0, 40.0, 50.0, 50.0), None, BoxStatus.PROPOSED, "labels.csv", "dr_a", now, now),
                (REVIEWER, (60.0, 60.0, 70.0, 70.0), None, BoxStatus.ADDED, "", "dr_a", now, now),
            }  # fmt: skip
            assert again.box(drawn.id).xyxy == (60.0, 60.0, 70.0, 70.0)
            assert dict(again.images) == {
                A: ImageReview(
                    A, "pa", "/d/pa.dcm", "1.2.3", 0, ImageStatus.IN_PROGRESS, 12.5,
                    3, "dr_a", now, ("demo",), "Lung Opacity",
                ),  # edits: accept, reject, add box
                "1.2.4/0": ImageReview(
                    "1.2.4/0", "pb", "", "", 0, ImageStatus.NO_OPACITY, 0.0, 1, "dr_a", now,
                ),
            }  # fmt: skip
            assert again.models == {"demo": ModelInfo("demo", "/m/demo.pt", 0.35, added=now)}
            assert again.models["demo"].meta == {"arch": "retinanet", "n": [1, 2]}
            assert again.pending_truth == {"gone": [((1.0, 1.0, 2.0, 2.0), "labels.csv")]}
            log = store2.read_log()
            assert [e["action"] for e in log if e["box"] == p1.id][-1] == "accept"
            assert {e["author"] for e in log} == {"dr_a"}
            # Keeps working after reopening, as the new reviewer.
            assert again.move(p1.id, (1, 1, 9, 9)).author == "dr_b"
        finally:
            store2.close()

    def test_pending_truth_attaches_when_image_opens_later(self, tmp_path: Path) -> None:
        path = tmp_path / "s.sqlite"
        state, store = open_session(path)
        state.import_ground_truth({}, "labels.csv", {"pc": [(1, 1, 5, 5)]})
        store.close()
        again, store = open_session(path)
        again.add_image("9.9/0", "pc")
        assert [b.xyxy for b in again.boxes("9.9/0")] == [(1.0, 1.0, 5.0, 5.0)]
        store.close()
        third, store = open_session(path)
        assert third.pending_truth == {}
        assert len(third.boxes("9.9/0")) == 1
        store.close()

    def test_wal_and_schema_version(self, tmp_path: Path) -> None:
        path = tmp_path / "s.sqlite"
        _state, store = open_session(path)
        store.close()
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        meta = dict(db.execute("SELECT key, value FROM meta"))
        assert meta["schema_version"] == str(SCHEMA_VERSION)
        assert [r[0] for r in db.execute("SELECT version FROM migrations")] == sorted(MIGRATIONS)
        db.close()

    def test_failed_write_changes_nothing(self, tmp_path: Path) -> None:
        state, store = open_session(tmp_path / "s.sqlite")
        state.add_image(A, "pa")
        store.close()  # the next write fails
        with pytest.raises(SessionError, match="cannot write"):
            state.add_box(A, (0, 0, 5, 5))
        assert state.boxes(A) == []
        assert not state.can_undo


class TestUntrustedFiles:
    @pytest.mark.parametrize(
        ("content", "reason"),
        [
            (b"hello, not a database at all" * 10, "not an SQLite database"),
            (b"SQLite format 3\x00" + b"\xff" * 200, "not a usable session file"),
        ],
    )
    def test_garbage(self, tmp_path: Path, content: bytes, reason: str) -> None:
        path = tmp_path / "bad.sqlite"
        path.write_bytes(content)
        with pytest.raises(SessionError, match=reason) as info:
            open_session(path)
        # One format for every file error (detector.errors): the file name in the message,
        # the whole path in .path.
        assert str(info.value).startswith("bad.sqlite: not ")
        assert info.value.path == str(path)

    def test_unrelated_database(self, tmp_path: Path) -> None:
        path = tmp_path / "other.db"
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE t (x)")
        db.commit()
        db.close()
        with pytest.raises(SessionError, match="unrelated SQLite database"):
            open_session(path)

    def test_newer_schema(self, tmp_path: Path) -> None:
        path = tmp_path / "s.sqlite"
        _s, store = open_session(path)
        store.close()
        db = sqlite3.connect(path)
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
        db.commit()
        db.close()
        with pytest.raises(SessionError, match="newer PneumoView"):
            open_session(path)

    def test_a_moved_predictions_proposed_geometry_comes_back(self, tmp_path: Path) -> None:
        path = tmp_path / "s.sqlite"
        state, store = open_session(path)
        state.add_image(A, "pa")
        (p,) = state.set_predictions(A, "demo", [((0, 0, 10, 10), 0.9)])
        state.accept(p.id)
        state.move(p.id, (2, 2, 12, 12))
        store.close()
        again, store2 = open_session(path)
        store2.close()
        box = again.box(p.id)
        assert (box.xyxy, box.model_xyxy) == ((2, 2, 12, 12), (0, 0, 10, 10))

    def test_a_version_1_file_is_migrated(self, tmp_path: Path) -> None:
        """Version 1 kept no proposed geometry: its boxes load without it and stay editable."""
        path = tmp_path / "s.sqlite"
        state, store = open_session(path)
        state.add_image(A, "pa")
        state.add_box(A, (0, 0, 5, 5))
        store.close()
        db = sqlite3.connect(path)  # back to what version 1 wrote
        for column in ("mx0", "my0", "mx1", "my1", "label", "flag"):
            db.execute(f"ALTER TABLE boxes DROP COLUMN {column}")
        db.execute("ALTER TABLE images DROP COLUMN note")
        db.execute("DROP TABLE view_state")
        db.execute("DROP TABLE labels")
        db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        db.execute("DELETE FROM migrations WHERE version >= 2")
        db.commit()
        db.close()
        again, store2 = open_session(path)
        (box,) = again.boxes(A)
        assert box.model_xyxy is None
        (p,) = again.set_predictions(A, "demo", [((20, 20, 30, 30), 0.9)])
        store2.close()
        third, store3 = open_session(path)
        store3.close()
        assert third.box(p.id).model_xyxy == (20, 20, 30, 30)
        assert third.box(box.id).xyxy == (0, 0, 5, 5)
        db = sqlite3.connect(path)
        assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("4",)
        db.close()

    def test_corrupt_rows(self, tmp_path: Path) -> None:
        path = tmp_path / "s.sqlite"
        state, store = open_session(path)
        state.add_image(A, "pa")
        state.add_box(A, (0, 0, 5, 5))
        store.close()
        db = sqlite3.connect(path)
        db.execute("UPDATE boxes SET status = 'bogus'")
        db.commit()
        db.close()
        # The one unreadable box is quarantined (left in the file, listed), not the session.
        again, store2 = open_session(path)
        store2.close()
        assert again.boxes(A) == []
        assert len(store2.quarantined) == 1
        assert "'bogus' is not a valid BoxStatus" in store2.quarantined[0]

    def test_table_with_missing_columns(self, tmp_path: Path) -> None:
        path = tmp_path / "s.sqlite"
        _state, store = open_session(path)
        store.close()
        db = sqlite3.connect(path)
        db.execute("DROP TABLE boxes")
        db.execute("CREATE TABLE boxes (id TEXT)")
        db.execute("INSERT INTO boxes VALUES ('x')")
        db.commit()
        db.close()
        with pytest.raises(SessionError, match="table 'boxes' is not defined as PneumoView"):
            open_session(path)

    def test_folder(self, tmp_path: Path) -> None:
        with pytest.raises(SessionError, match="is a folder"):
            open_session(tmp_path)


class TestDefaultSessionPath:
    def test_one_file_per_folder_in_user_data(self, tmp_path: Path) -> None:
        a = default_session_path(tmp_path / "x" / "study")
        b = default_session_path(tmp_path / "y" / "study")
        assert a != b
        assert a.parent == tmp_path / "data" / "sessions"
        assert a.name.startswith("study-") and a.suffix == ".sqlite"
        assert default_session_path(tmp_path / "x" / "study") == a


_KILL_SCRIPT = textwrap.dedent(
    """
    import sys
    from detector.review import open_session
    state, store = open_session(sys.argv[1], reviewer="killed")
    state.add_image("1.2.3/0", "pa")
    print("ready", flush=True)
    i = 0
    while True:
        state.add_box("1.2.3/0", (i, i, i + 5, i + 5))
        print(i, flush=True)
        i += 1
    """
)


class TestSigkill:
    @pytest.mark.skipif(sys.platform.startswith("win"), reason="SIGKILL is POSIX")
    def test_every_finished_edit_survives_sigkill(self, tmp_path: Path) -> None:
        path = tmp_path / "killed.sqlite"
        proc = subprocess.Popen(
            [sys.executable, "-c", _KILL_SCRIPT, str(path)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        done = -1
        deadline = time.monotonic() + 60
        while done < 20 and time.monotonic() < deadline:
            done = int(proc.stdout.readline())
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        # Lines printed after the last one we read are finished edits too.
        for line in proc.stdout.read().split():
            done = int(line)
        proc.stdout.close()
        assert done >= 20

        state, store = open_session(path)
        try:
            starts = sorted(int(b.xyxy[0]) for b in state.boxes("1.2.3/0"))
            # Every printed (finished) edit is there, in order, and nothing half-written.
            assert starts[: done + 1] == list(range(done + 1))
            assert len(starts) in (done + 1, done + 2)
            assert {b.status for b in state.boxes()} == {BoxStatus.ADDED}
            assert state.image("1.2.3/0").status is ImageStatus.IN_PROGRESS
        finally:
            store.close()


class TestViewState:
    """What the reader had on screen (model, threshold, image, compare mode) survives a restart."""

    def test_written_values_come_back_after_reopen(self, tmp_path: Path) -> None:
        path = tmp_path / "s.sqlite"
        _state, store = open_session(path)
        assert store.read_view_state() == {}
        store.write_view_state({"model": "/m/demo.pt", "threshold": "0.2"})
        store.write_view_state({"threshold": "0.15", "image": "1.2.3/0"})
        store.close()
        _again, store2 = open_session(path)
        try:
            assert store2.read_view_state() == {
                "model": "/m/demo.pt",
                "threshold": "0.15",
                "image": "1.2.3/0",
            }
        finally:
            store2.close()

    def test_a_version_1_file_opens_and_is_migrated(self, tmp_path: Path) -> None:
        """A session written before view_state existed keeps its boxes and gains the table."""
        path = tmp_path / "old.sqlite"
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("CREATE TABLE migrations (version INTEGER PRIMARY KEY, applied REAL)")
        db.execute("INSERT INTO meta VALUES ('app', 'pneumoview-review')")
        db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        db.execute("INSERT INTO migrations VALUES (1, 0)")
        MIGRATIONS[1](db)
        db.execute(
            "INSERT INTO images VALUES "
            "('1.2.3/0', 'pa', '/d/pa.dcm', '1.2.3', 0, 'unreviewed', 0, 0, '', 0, '[]', '')"
        )
        db.execute(
            "INSERT INTO boxes VALUES "
            "('b1', '1.2.3/0', 'ground_truth', 1, 2, 30, 40, NULL, 'proposed', 'labels.csv', "
            "'', 0, 0)"
        )
        db.commit()
        db.close()

        state, store = open_session(path)
        try:
            assert [b.xyxy for b in state.boxes("1.2.3/0")] == [(1.0, 2.0, 30.0, 40.0)]
            assert store.read_view_state() == {}
            store.write_view_state({"compare": "1"})
            assert store.read_view_state() == {"compare": "1"}
        finally:
            store.close()
        db = sqlite3.connect(path)
        assert dict(db.execute("SELECT key, value FROM meta"))["schema_version"] == "4"
        assert [r[0] for r in db.execute("SELECT version FROM migrations")] == [1, 2, 3, 4]
        db.close()
