"""One writer per session (issue 21, defect 3): a second process is told who has it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from detector import cli
from detector.review import ImageStatus, SessionLockedError, open_session

A = "1.2.3/0"
ROOT = Path(__file__).resolve().parents[3]

_HOLDER = textwrap.dedent(
    """
    import sys
    from detector.review import open_session
    state, store = open_session(sys.argv[1], reviewer="window_a")
    state.add_image("1.2.3/0", "pa")
    state.add_box("1.2.3/0", (10, 10, 20, 20))
    state.set_image_status("1.2.3/0", "reviewed")
    print("ready", flush=True)
    sys.stdin.readline()
    store.close()
    """
)


class TestOneWriter:
    def test_a_second_process_is_refused_and_may_read(self, tmp_path: Path) -> None:
        path = tmp_path / "s.sqlite"
        holder = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, str(path)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "ready\n"
            with pytest.raises(SessionLockedError) as info:
                open_session(path, reviewer="window_b")
            assert str(info.value) == f"s.sqlite: open in another PneumoView (pid {holder.pid})"
            # Read-only: the other window's review, nothing written.
            state, store = open_session(path, read_only=True)
            store.close()
            assert state.image(A).status is ImageStatus.REVIEWED
            assert [b.xyxy for b in state.boxes(A)] == [(10.0, 10.0, 20.0, 20.0)]
            out = tmp_path / "out.csv"
            assert cli.main(["export", str(path), "--out", str(out)]) == 0  # reads anyway
        finally:
            assert holder.stdin is not None
            holder.stdin.write("\n")
            holder.stdin.close()
            holder.wait(timeout=60)
        assert holder.returncode == 0
        # The lock goes with its owner.
        _state, store = open_session(path, reviewer="window_b")
        store.close()

    def test_the_lock_is_released_on_close(self, tmp_path: Path) -> None:
        path = tmp_path / "s.sqlite"
        _state, store = open_session(path)
        with pytest.raises(SessionLockedError, match="open in another PneumoView"):
            open_session(path)
        store.close()
        _state, store = open_session(path)
        store.close()


class TestRowUpdates:
    def test_a_write_never_overwrites_a_field_it_did_not_change(self, tmp_path: Path) -> None:
        """Only the changed columns are written: a status set elsewhere survives time on image."""
        path = tmp_path / "s.sqlite"
        state, store = open_session(path)
        state.add_image(A, "pa")
        # Another writer (e.g. a PneumoView older than the lock) marks the image reviewed.
        db = sqlite3.connect(path)
        db.execute("UPDATE images SET status = 'reviewed' WHERE key = ?", (A,))
        db.commit()
        state.add_seconds(A, 5.0)  # this window only moved on: its row is stale
        assert db.execute("SELECT status, seconds FROM images").fetchall() == [("reviewed", 5.0)]
        db.close()
        store.close()
