"""Checking a session file before anything is written to it, and plain words for SQLite errors.

A session file is untrusted: SQLite runs whatever triggers, views and generated columns the
file declares (``PRAGMA trusted_schema=OFF`` does not stop triggers). So before the first write
or migration the file is opened through a read-only connection and its whole schema (every
table, index, trigger and view in ``sqlite_master``, with its SQL) is compared with the schema
this version of PneumoView builds itself for the file's ``schema_version``: the same
migrations applied to an empty in-memory database. Anything different is refused and the file
is left byte for byte as it was. A new schema version is covered as soon as its migration is.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import sqlite3
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from detector.errors import PneumoViewError
from detector.review.session_lock import SessionLock

#: ``(type, name, table, sql)`` of every object in ``sqlite_master``.
SchemaEntry = tuple[str, str, str, str]


def _normalise(sql: str | None) -> str:
    return re.sub(r"\s+", " ", sql or "").strip()


def schema_of(db: sqlite3.Connection) -> frozenset[SchemaEntry]:
    """Every object of a database as ``(type, name, table, sql with whitespace collapsed)``."""
    rows = db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    return frozenset((str(t), str(n), str(tb), _normalise(s)) for t, n, tb, s in rows)


def expected_schema(
    version: int,
    create_base: Callable[[sqlite3.Connection], None],
    migrations: Mapping[int, Callable[[sqlite3.Connection], None]],
) -> frozenset[SchemaEntry]:
    """The schema PneumoView itself builds for a file at ``version`` (no file touched)."""
    db = sqlite3.connect(":memory:")
    try:
        create_base(db)
        for target in range(1, version + 1):
            migrations[target](db)
        return schema_of(db)
    finally:
        db.close()


def describe_difference(found: frozenset[SchemaEntry], expected: frozenset[SchemaEntry]) -> str:
    """The first difference, in words (e.g. ``a trigger 't' it should not have``)."""
    # What runs SQL (triggers, views) is named first: it is what makes the file dangerous.
    extra = sorted(found - expected, key=lambda e: (e[0] not in ("trigger", "view"), e))
    missing = sorted(expected - found)
    expected_names = {(t, n) for t, n, _tb, _s in expected}
    for kind, name, _table, _sql in extra:
        if kind in ("trigger", "view"):
            return f"a {kind} {name[:40]!r} that a session file never has"
        if (kind, name) in expected_names:
            return f"{kind} {name[:40]!r} is not defined as PneumoView defines it"
        return f"a {kind} {name[:40]!r} that a session file never has"
    if missing:
        kind, name, _table, _sql = missing[0]
        return f"{kind} {name[:40]!r} missing"
    return "unknown difference"


def _uri(path: Path, *, immutable: bool) -> str:
    flags = "mode=ro&immutable=1" if immutable else "mode=ro"
    return f"file:{quote(os.fspath(path.absolute()))}?{flags}"


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that cannot change the file or add files next to it.

    Without a ``-wal`` file next to it everything is in the file itself, which is opened as
    ``immutable`` (SQLite then creates no ``-wal``/``-shm`` file and takes no lock: this also
    reads read-only media). With one, ``mode=ro`` reads the finished transactions in it; where
    that fails on a folder that cannot be written, the file alone is read as ``immutable``.

    Raises
    ------
    sqlite3.Error
        The file cannot be opened even so.
    """
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        db = sqlite3.connect(_uri(path, immutable=False), uri=True, check_same_thread=False)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.Error:
            db.close()
            if is_writable(path):
                raise
    db = sqlite3.connect(_uri(path, immutable=True), uri=True, check_same_thread=False)
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error:
        db.close()
        raise
    return db


def is_writable(path: Path) -> bool:
    """The file and its folder can be written (SQLite needs both for its journal)."""
    folder = path.parent if str(path.parent) else Path(".")
    return os.access(path, os.W_OK) and os.access(folder, os.W_OK | os.X_OK)


def reason_for(exc: sqlite3.Error, path: Path, doing: str) -> str:
    """``exc`` in words a reader understands: read-only, disk full, or SQLite's own words.

    ``doing`` starts the reason (``"cannot write the session"``).
    """
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(exc)
    if primary == sqlite3.SQLITE_FULL or "disk is full" in text:
        return f"{doing}: disk full"
    if primary == sqlite3.SQLITE_READONLY or "readonly" in text:
        return f"{doing}: read-only (the file or its folder cannot be written)"
    if primary in (sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN):
        if _disk_full(path):
            return f"{doing}: disk full"
        if path.exists() and not is_writable(path):
            return f"{doing}: read-only (the file or its folder cannot be written)"
        if primary == sqlite3.SQLITE_IOERR:
            return f"{doing}: the disk failed to read or write (disk I/O error)"
    return f"{doing} ({text})"


def _disk_full(path: Path) -> bool:
    folder = path.parent if path.parent.exists() else Path(".")
    try:
        return shutil.disk_usage(folder).free < 64 * 1024
    except OSError:
        return False


def reason_for_os(exc: OSError) -> str:
    """An ``OSError`` in words: read-only, disk full, or its own message."""
    if exc.errno == errno.EROFS or exc.errno in (errno.EACCES, errno.EPERM):
        return "read-only (the file or its folder cannot be written)"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "disk full"
    return exc.strerror or str(exc)


class SessionError(PneumoViewError):
    """A session file that cannot be used; ``str(err)`` is ``"<file name>: <reason>"``."""


class SessionReadOnlyError(SessionError):
    """The session cannot be written (read-only file, folder or disk); it can be read."""


class SessionLockedError(SessionError):
    """Another PneumoView has the session open for writing; it can be read."""


Migrations = Mapping[int, Callable[[sqlite3.Connection], None]]
_UNRELATED = "not a PneumoView session file (an unrelated SQLite database)"


def open_database(
    path: Path,
    *,
    create: bool,
    read_only: bool,
    create_base: Callable[[sqlite3.Connection], None],
    migrations: Migrations,
    app_id: str,
    version: int,
) -> tuple[sqlite3.Connection, SessionLock | None]:
    """Check a session file read-only, then open it for writing (locked) or as a snapshot.

    Nothing is written to a file before its schema is known to be PneumoView's own; a refused
    file is left untouched. ``read_only`` gives an in-memory copy (migrated in memory), so the
    file is never written. Otherwise the session's lock is taken for the life of the
    connection (released by the caller).

    Raises
    ------
    SessionError
        See :func:`detector.review.store.open_session`.
    """
    spath = os.fspath(path)
    if path.is_dir():
        raise SessionError(spath, "is a folder, not a session file")
    exists = path.is_file()
    if not exists and (read_only or not create):
        raise SessionError(spath, "file not found")
    try:
        size = path.stat().st_size if exists else 0
        magic = b""
        if size:
            with open(spath, "rb") as fh:
                magic = fh.read(16)
    except OSError as exc:
        raise SessionError(spath, f"cannot read ({reason_for_os(exc)})") from None
    if exists and size == 0 and (read_only or not create):
        raise SessionError(spath, "empty file (not a session)")
    if size and magic != b"SQLite format 3\x00":
        raise SessionError(spath, "not a PneumoView session file (not an SQLite database)")
    found = 0
    if size:
        found = _check_file(path, app_id, version, create_base, migrations, empty_ok=not read_only)
    if read_only:
        return _snapshot(path, found, version, migrations), None
    if exists and not is_writable(path):
        raise SessionReadOnlyError(spath, "read-only (the file or its folder cannot be written)")
    if not exists:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SessionError(spath, f"cannot create its folder ({reason_for_os(exc)})") from None
    lock = _lock(path)
    try:
        db = sqlite3.connect(spath, isolation_level="DEFERRED", check_same_thread=False)
    except sqlite3.Error as exc:
        lock.release()
        raise SessionError(spath, reason_for(exc, path, "cannot open")) from None
    try:
        db.execute("PRAGMA trusted_schema=OFF")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=OFF")
        _migrate(db, spath, app_id, version, create_base, migrations)
    except sqlite3.Error as exc:
        db.close()
        lock.release()
        raise SessionError(spath, reason_for(exc, path, "not a usable session file")) from None
    except BaseException:
        db.close()
        lock.release()
        raise
    return db, lock


def _lock(path: Path) -> SessionLock:
    try:
        got = SessionLock.acquire(path)
    except OSError as exc:
        raise SessionReadOnlyError(
            os.fspath(path), f"cannot lock it for writing: {reason_for_os(exc)}"
        ) from None
    if isinstance(got, int):
        pid = f"pid {got}" if got else "pid unknown"
        raise SessionLockedError(os.fspath(path), f"open in another PneumoView ({pid})")
    return got


@lru_cache(maxsize=32)
def _expected(
    version: int,
    create_base: Callable[[sqlite3.Connection], None],
    migrations_key: tuple[Callable[[sqlite3.Connection], None], ...],
) -> frozenset[SchemaEntry]:
    return expected_schema(version, create_base, dict(enumerate(migrations_key, start=1)))


def _check_file(
    path: Path,
    app_id: str,
    version: int,
    create_base: Callable[[sqlite3.Connection], None],
    migrations: Migrations,
    *,
    empty_ok: bool,
) -> int:
    """The file's schema version, once its schema is exactly PneumoView's for that version.

    Read through a read-only connection; nothing in the file is run (no view is read, no
    trigger can fire, no generated column is computed).
    """
    spath = os.fspath(path)
    steps = tuple(migrations[v] for v in range(1, version + 1))
    try:
        db = connect_read_only(path)
    except sqlite3.Error as exc:
        raise SessionError(spath, reason_for(exc, path, "not a usable session file")) from None
    try:
        found = schema_of(db)
        if not found and empty_ok:
            return 0  # an empty SQLite database becomes a new session
        base = _expected(0, create_base, steps)
        if not {e for e in base if e[1] == "meta"} <= found:
            raise SessionError(spath, _UNRELATED)
        meta = dict(db.execute("SELECT key, substr(value, 1, 40) FROM meta").fetchall())
    except sqlite3.Error as exc:
        raise SessionError(spath, reason_for(exc, path, "not a usable session file")) from None
    finally:
        db.close()
    if meta.get("app") != app_id:
        raise SessionError(spath, _UNRELATED)
    try:
        file_version = int(str(meta.get("schema_version", "")))
    except ValueError:
        raise SessionError(
            spath, f"bad schema_version {str(meta.get('schema_version'))[:20]!r}"
        ) from None
    if file_version > version:
        raise SessionError(
            spath,
            f"written by a newer PneumoView (session schema {file_version}; this version reads "
            f"up to {version})",
        )
    if file_version < 0:
        raise SessionError(spath, f"bad schema_version {file_version}")
    expected = _expected(file_version, create_base, steps)
    if found != expected:
        raise SessionError(
            spath,
            "not a session file PneumoView can trust: "
            f"{describe_difference(found, expected)} (left unchanged)",
        )
    return file_version


def _snapshot(path: Path, found: int, version: int, migrations: Migrations) -> sqlite3.Connection:
    """An in-memory copy of a checked file, brought up to ``version`` in memory."""
    try:
        src = connect_read_only(path)
    except sqlite3.Error as exc:
        raise SessionError(path, reason_for(exc, path, "cannot read")) from None
    mem = sqlite3.connect(":memory:", check_same_thread=False)
    try:
        src.backup(mem)
        with mem:
            for target in range(found + 1, version + 1):
                migrations[target](mem)
    except sqlite3.Error as exc:
        mem.close()
        raise SessionError(path, reason_for(exc, path, "cannot read")) from None
    finally:
        src.close()
    return mem


def _migrate(
    db: sqlite3.Connection,
    path: str,
    app_id: str,
    version: int,
    create_base: Callable[[sqlite3.Connection], None],
    migrations: Migrations,
) -> None:
    """Create a new file's base tables and apply the migrations it lacks (checked file)."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not tables:
        with db:
            create_base(db)
            db.execute("INSERT INTO meta VALUES ('app', ?)", (app_id,))
            db.execute("INSERT INTO meta VALUES ('schema_version', '0')")
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    current = int(row[0]) if row is not None and str(row[0]).isdigit() else 0
    for target in range(current + 1, version + 1):
        with db:
            migrations[target](db)
            db.execute("INSERT OR REPLACE INTO migrations VALUES (?, julianday('now'))", (target,))
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(target),))
