"""Fuzz: session files with random schema changes.

A session written by PneumoView is changed behind its back (a column dropped or added, a table
dropped, a trigger or view added, the schema version or app id changed, odd values in rows);
``open_session`` must open it or refuse with one-line :class:`SessionError`, never another
exception. The stronger property of issue 21 defect 1 is checked too: a changed schema is
refused and the file left untouched.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path

from hypothesis import event, given
from hypothesis import strategies as st

from detector.review.store import SessionError, open_session
from tests.fuzz.memory import rss_cap

_TABLES = ["images", "boxes", "models", "pending_truth", "log", "view_state", "meta", "migrations"]
_COLUMNS = {
    "images": ["key", "patient_id", "path", "status", "seconds", "reviewer"],
    "boxes": ["id", "image", "kind", "x0", "y1", "score", "mx0"],
    "models": ["name", "threshold", "meta"],
    "log": ["seq", "time", "action"],
    "meta": ["key", "value"],
    "view_state": ["key", "value"],
}
_VERSIONS = st.sampled_from(
    ["0", "1", "2", "3", "4", "-1", "abc", "", "3.0", "99999999999999999999"]
)

Change = Callable[[sqlite3.Connection], None]


def _drop_column(table: str, column: str) -> Change:
    return lambda db: db.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


def _add_column(table: str, decl: str) -> Change:
    return lambda db: db.execute(f"ALTER TABLE {table} ADD COLUMN fuzz {decl}")


def _sql(statement: str, *params: object) -> Change:
    return lambda db: db.execute(statement, params)


@st.composite
def schema_changes(draw: st.DrawFn) -> list[tuple[str, Change]]:
    """One to three changes, each with a short description (for the failure report)."""
    table = st.sampled_from(sorted(_COLUMNS))
    options = [
        table.flatmap(
            lambda t: st.sampled_from(_COLUMNS[t]).map(
                lambda c: (f"drop column {t}.{c}", _drop_column(t, c))
            )
        ),
        st.tuples(table, st.sampled_from(["TEXT", "REAL NOT NULL DEFAULT 1", "BLOB"])).map(
            lambda tc: (f"add column {tc[0]}.fuzz {tc[1]}", _add_column(*tc))
        ),
        st.sampled_from(_TABLES).map(lambda t: (f"drop table {t}", _sql(f"DROP TABLE {t}"))),
        st.sampled_from(["boxes", "log", "images", "migrations"]).map(
            lambda t: (
                f"trigger on {t}",
                _sql(f"CREATE TRIGGER fuzz AFTER INSERT ON {t} BEGIN DELETE FROM boxes; END"),
            )
        ),
        st.just(("view", _sql("CREATE VIEW fuzz_view AS SELECT 1"))),
        _VERSIONS.map(
            lambda v: (
                f"schema_version {v!r}",
                _sql("UPDATE meta SET value = ? WHERE key = 'schema_version'", v),
            )
        ),
        st.just(("app id", _sql("UPDATE meta SET value = 'other' WHERE key = 'app'"))),
        st.sampled_from(["abc", "", None, 1e308, float("nan")]).map(
            lambda v: (
                f"odd row {v!r}",
                _sql(
                    "INSERT INTO images VALUES ('k', 'p', 'x.dcm', 'uid', ?, 'reviewed', ?, 0, "
                    "'r', 0, '', '')",
                    v,
                    v,
                ),
            )
        ),
    ]
    return draw(st.lists(st.one_of(options), min_size=1, max_size=3))


def _changed_session(folder: Path, changes: list[tuple[str, Change]]) -> tuple[Path, int]:
    """A fresh session file with ``changes`` applied; also how many of them took effect."""
    path = folder / "review.sqlite"
    _state, store = open_session(path, reviewer="fuzz")
    store.close()
    applied = 0
    db = sqlite3.connect(path)
    try:
        for _what, change in changes:
            try:
                with db:
                    change(db)
                applied += 1
            except sqlite3.Error:
                pass  # e.g. a column SQLite cannot drop: the change is not made
    finally:
        db.close()
    return path, applied


def _open(path: Path) -> bool:
    """Open the session; True when it opened, False when refused in one line."""
    try:
        _state, store = open_session(path, reviewer="fuzz", create=False)
    except SessionError as err:
        assert "\n" not in str(err) and str(err).startswith("review.sqlite: "), str(err)
        event("refused")
        return False
    store.close()
    event("opened")
    return True


@given(schema_changes())
def test_changed_session_opens_or_is_refused_in_one_line(changes):
    """Any schema change: the session opens, or one line naming the file."""
    with tempfile.TemporaryDirectory() as tmp, rss_cap():
        path, _applied = _changed_session(Path(tmp), changes)
        _open(path)


@given(schema_changes())
def test_changed_schema_is_refused_and_left_untouched(changes):
    """A session whose schema differs from the known one is refused, its bytes unchanged."""
    with tempfile.TemporaryDirectory() as tmp, rss_cap():
        path, applied = _changed_session(Path(tmp), changes)
        kinds = " ".join(what for what, _ in changes)
        if not applied or not any(k in kinds for k in ("column", "trigger", "view")):
            return
        before = path.read_bytes()
        assert not _open(path)
        assert path.read_bytes() == before
