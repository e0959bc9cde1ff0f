"""Hostile session files (issue 21, defects 1, 2, 6, 7): refused in one line, left untouched."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from detector import cli
from detector.review import (
    ImageStatus,
    SessionError,
    SessionReadOnlyError,
    open_session,
)

A = "1.2.3/0"


def _digest(folder: Path) -> dict[str, str]:
    """Every file in a folder and the sha256 of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _session(path: Path) -> None:
    """A real session with one image and one box, closed (WAL checkpointed)."""
    state, store = open_session(path, reviewer="dr_a")
    state.add_image(A, "pa")
    state.add_box(A, (10, 10, 20, 20))
    store.close()


def _tamper(path: Path, *sql: str) -> None:
    db = sqlite3.connect(path)
    for statement in sql:
        db.execute(statement)
    db.commit()
    db.close()


class TestHostileSchema:
    @pytest.mark.parametrize(
        ("sql", "reason"),
        [
            (
                [
                    "CREATE TRIGGER t AFTER INSERT ON boxes BEGIN "
                    "UPDATE boxes SET x0=x0+500, x1=x1+500 WHERE id=NEW.id; END"
                ],
                "a trigger 't' that a session file never has",
            ),
            (
                ["CREATE TRIGGER wipe AFTER INSERT ON log BEGIN DELETE FROM boxes; END"],
                "a trigger 'wipe'",
            ),
            (
                [
                    "CREATE TRIGGER hang AFTER INSERT ON migrations BEGIN "
                    "INSERT INTO meta SELECT 'x' || n, n FROM (WITH RECURSIVE c(n) AS "
                    "(SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT n FROM c); END",
                    "UPDATE meta SET value = '0' WHERE key = 'schema_version'",
                ],
                "a trigger 'hang'",
            ),
            (
                [
                    "DROP TABLE pending_truth",
                    "CREATE VIEW pending_truth AS WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL "
                    "SELECT n + 1 FROM c WHERE n < 3) SELECT 'p', 0.0, 0.0, 1.0, 1.0, 'x' FROM c",
                ],
                "a view 'pending_truth'",
            ),
            (
                ["ALTER TABLE boxes ADD COLUMN big BLOB AS (zeroblob(1000)) VIRTUAL"],
                "table 'boxes' is not defined as PneumoView defines it",
            ),
        ],
        ids=["shift-trigger", "wipe-trigger", "migration-trigger", "view", "generated-column"],
    )
    def test_refused_and_untouched(self, tmp_path: Path, sql: list[str], reason: str) -> None:
        """Refused before any write or migration; every byte of the folder stays the same."""
        path = tmp_path / "s.sqlite"
        _session(path)
        _tamper(path, *sql)
        before = _digest(tmp_path)
        with pytest.raises(SessionError, match="not a session file PneumoView can trust") as info:
            open_session(path)
        assert reason in str(info.value)
        assert "\n" not in str(info.value)
        assert _digest(tmp_path) == before
        out = tmp_path.parent / f"{tmp_path.name}-out.csv"
        assert cli.main(["export", str(path), "--out", str(out)]) == 1
        assert not out.exists()
        assert _digest(tmp_path) == before

    def test_a_clean_session_opens(self, tmp_path: Path) -> None:
        path = tmp_path / "s.sqlite"
        _session(path)
        state, store = open_session(path)
        store.close()
        assert [b.xyxy for b in state.boxes(A)] == [(10.0, 10.0, 20.0, 20.0)]


class TestRefusedFilesStayUnchanged:
    def test_another_apps_database_is_not_switched_to_wal(self, tmp_path: Path) -> None:
        path = tmp_path / "other.db"
        _tamper(path, "CREATE TABLE t (x)", "INSERT INTO t VALUES (1)")
        assert path.read_bytes()[18:20] == b"\x01\x01"  # rollback journal
        before = _digest(tmp_path)
        with pytest.raises(SessionError, match="unrelated SQLite database"):
            open_session(path)
        assert _digest(tmp_path) == before

    def test_export_of_an_empty_file(self, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
        path = tmp_path / "empty.sqlite"
        path.write_bytes(b"")
        out = tmp_path / "out.csv"
        assert cli.main(["export", str(path), "--out", str(out)]) == 1
        assert (
            capsys.readouterr().err
            == "pneumoview export: empty.sqlite: empty file (not a session)\n"
        )
        assert path.read_bytes() == b""
        assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.sqlite"]

    def test_export_reads_without_writing(self, tmp_path: Path) -> None:
        """``export`` of an old (version 1) session migrates nothing in the file."""
        folder = tmp_path / "s"
        folder.mkdir()
        path = folder / "s.sqlite"
        _session(path)
        db = sqlite3.connect(path)
        for column in ("mx0", "my0", "mx1", "my1"):
            db.execute(f"ALTER TABLE boxes DROP COLUMN {column}")
        db.execute("DROP TABLE view_state")
        for table, column in (("boxes", "label"), ("boxes", "flag"), ("images", "note")):
            db.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        db.execute("DROP TABLE labels")
        db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        db.execute("DELETE FROM migrations WHERE version >= 2")
        db.execute(f"UPDATE images SET status = '{ImageStatus.REVIEWED.value}'")
        db.commit()
        db.close()
        before = _digest(folder)
        out = tmp_path / "out.csv"
        assert cli.main(["export", str(path), "--out", str(out)]) == 0
        assert out.read_text().splitlines()[1:] == ["pa,10,10,10,10,1"]
        assert _digest(folder) == before


def _root() -> bool:
    """Root ignores file modes (POSIX only)."""
    return getattr(os, "geteuid", lambda: 1)() == 0


@pytest.fixture
def read_only() -> Iterator[list[Path]]:
    """Paths appended are made read-only (mode bits; ``chattr +i`` where root ignores them)."""
    paths: list[Path] = []
    yield paths
    for p in reversed(paths):
        if _root():
            subprocess.run(["chattr", "-i", str(p)], check=False, capture_output=True)
        p.chmod(0o755 if p.is_dir() else 0o644)


def _make_read_only(paths: list[Path], *targets: Path) -> None:
    for p in targets:
        p.chmod(0o555 if p.is_dir() else 0o444)
        paths.append(p)
        if _root():
            done = subprocess.run(["chattr", "+i", str(p)], check=False, capture_output=True)
            if done.returncode != 0:
                pytest.skip("root ignores file modes and chattr +i is not available")


class TestReadOnlyAndFull:
    def test_export_from_read_only_media(self, tmp_path: Path, read_only: list[Path]) -> None:
        folder = tmp_path / "ro"
        folder.mkdir()
        path = folder / "s.sqlite"
        state, store = open_session(path)
        state.add_image(A, "pa")
        state.add_box(A, (10, 10, 20, 20))
        state.set_image_status(A, ImageStatus.REVIEWED)
        store.close()
        before = _digest(folder)
        _make_read_only(read_only, path, folder)
        out = tmp_path / "out.csv"
        assert cli.main(["export", str(path), "--out", str(out)]) == 0
        assert out.read_text().splitlines()[1:] == ["pa,10,10,10,10,1"]
        assert _digest(folder) == before

    def test_read_only_session_is_named_read_only(
        self, tmp_path: Path, read_only: list[Path]
    ) -> None:
        folder = tmp_path / "ro"
        folder.mkdir()
        path = folder / "s.sqlite"
        _session(path)
        _make_read_only(read_only, path, folder)
        with pytest.raises(SessionReadOnlyError, match="^s.sqlite: read-only"):
            open_session(path)
        state, store = open_session(path, read_only=True)
        assert store.read_only
        with pytest.raises(SessionError, match="opened read-only: the change is not saved"):
            state.add_box(A, (30, 30, 40, 40))
        store.close()

    def test_disk_full_is_one_line_and_the_edit_stays_in_memory(self, tmp_path: Path) -> None:
        path = tmp_path / "s.sqlite"
        state, store = open_session(path)
        state.add_image(A, "pa")
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count = {pages}")  # a real SQLITE_FULL
        with pytest.raises(SessionError, match=r"^s.sqlite: cannot write the session: disk full$"):
            for i in range(200):
                state.set_predictions(A, f"m{i}", [((0, 0, 5, 5), 0.9)] * 20)
        failures: list[str] = []
        store.on_error = lambda err: failures.append(str(err))
        boxes = state.set_predictions(A, "last", [((1, 1, 9, 9), 0.8)] * 20)
        assert failures == ["s.sqlite: cannot write the session: disk full"]
        assert [state.box(b.id).xyxy for b in boxes] == [(1.0, 1.0, 9.0, 9.0)] * 20  # in memory
        store.close()


class TestNonFiniteBox:
    def test_one_box_is_quarantined_not_the_session(self, tmp_path: Path) -> None:
        path = tmp_path / "s.sqlite"
        state, store = open_session(path)
        state.add_image(A, "pa")
        good = state.add_box(A, (1, 1, 5, 5))
        bad = state.add_box(A, (10, 10, 20, 20))
        store.close()
        _tamper(path, f"UPDATE boxes SET x1 = 1e999 WHERE id = '{bad.id}'")  # +inf
        again, store2 = open_session(path)
        store2.close()
        assert [b.id for b in again.boxes(A)] == [good.id]
        assert store2.quarantined == [
            f"box {bad.id!r} not loaded (expected a finite number, found 'inf')"
        ]
        db = sqlite3.connect(path)
        assert db.execute("SELECT count(*) FROM boxes").fetchone() == (2,)  # nothing lost
        db.close()
