"""The review session file: one SQLite database, every edit written through at once.

WAL journal, ``synchronous=FULL`` and one transaction per edit, so a crash or a SIGKILL at any
moment loses no finished edit. The file is untrusted: anything that is not a PneumoView session
of a known schema version raises :class:`SessionError` naming the file. ``schema_version`` in
the ``meta`` table plus :data:`MIGRATIONS` (applied in order, each recorded in ``migrations``)
upgrade older files on open.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from detector.files.userdata import user_data_dir
from detector.review.records import (
    BOX_FLAGS,
    XYXY,
    BoxKind,
    BoxStatus,
    ImageReview,
    ImageStatus,
    ModelInfo,
    ReviewBox,
    either_box,
)
from detector.review.session_lock import SessionLock
from detector.review.state import ReviewState
from detector.review.store_schema import (
    SessionError,
    SessionLockedError,
    SessionReadOnlyError,
    open_database,
    reason_for,
    reason_for_os,
)

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SessionError",
    "SessionLockedError",
    "SessionReadOnlyError",
    "SessionStore",
    "default_session_path",
    "open_session",
]

APP_ID = "pneumoview-review"
SCHEMA_VERSION = 4

_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS images (
    key TEXT PRIMARY KEY, patient_id TEXT NOT NULL, path TEXT NOT NULL,
    sop_instance_uid TEXT NOT NULL, frame INTEGER NOT NULL, status TEXT NOT NULL,
    seconds REAL NOT NULL, edits INTEGER NOT NULL, reviewer TEXT NOT NULL,
    modified REAL NOT NULL, predicted_by TEXT NOT NULL, rsna_class TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS images_patient ON images(patient_id);
CREATE TABLE IF NOT EXISTS boxes (
    id TEXT PRIMARY KEY, image TEXT NOT NULL, kind TEXT NOT NULL,
    x0 REAL NOT NULL, y0 REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL, score REAL,
    status TEXT NOT NULL, origin TEXT NOT NULL, author TEXT NOT NULL,
    created REAL NOT NULL, modified REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS boxes_image ON boxes(image);
CREATE TABLE IF NOT EXISTS models (
    name TEXT PRIMARY KEY, path TEXT NOT NULL, threshold REAL NOT NULL, meta TEXT NOT NULL,
    added REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pending_truth (
    patient_id TEXT NOT NULL, x0 REAL NOT NULL, y0 REAL NOT NULL, x1 REAL NOT NULL,
    y1 REAL NOT NULL, origin TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS log (
    seq INTEGER PRIMARY KEY, time REAL NOT NULL, author TEXT NOT NULL, action TEXT NOT NULL,
    image TEXT NOT NULL, box TEXT NOT NULL, status TEXT NOT NULL
);
"""


#: Version 3: what the reader had on screen (model, threshold, image, compare mode), as text.
_SCHEMA_V3 = """
CREATE TABLE IF NOT EXISTS view_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def _migrate_to_1(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA_V1)


def _migrate_to_2(db: sqlite3.Connection) -> None:
    # The geometry a model proposed, kept when the reader moves the box (the submission
    # export). NULL for other boxes and for boxes written before version 2.
    for column in ("mx0", "my0", "mx1", "my1"):
        db.execute(f"ALTER TABLE boxes ADD COLUMN {column} REAL")


def _migrate_to_3(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA_V3)


def _migrate_to_4(db: sqlite3.Connection) -> None:
    # A box's label and flag ("equivocal"), an image's note. Boxes written before version 4
    # read as the default label without a flag; images as without a note.
    # The literal, not records.DEFAULT_LABEL: what version 3 boxes meant does not change.
    db.execute("ALTER TABLE boxes ADD COLUMN label TEXT NOT NULL DEFAULT 'Lung Opacity'")
    db.execute("ALTER TABLE boxes ADD COLUMN flag TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE images ADD COLUMN note TEXT NOT NULL DEFAULT ''")
    db.execute("CREATE TABLE IF NOT EXISTS labels (label TEXT PRIMARY KEY)")


#: ``version -> function`` bringing a file from ``version - 1`` to ``version``.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: _migrate_to_1,
    2: _migrate_to_2,
    3: _migrate_to_3,
    4: _migrate_to_4,
}


def _create_base(db: sqlite3.Connection) -> None:
    """The tables of every version (``schema_version`` 0): what the file is and what ran."""
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("CREATE TABLE migrations (version INTEGER PRIMARY KEY, applied REAL)")


def default_session_path(folder: str | os.PathLike[str]) -> Path:
    """The session file of an opened folder: ``<user data>/sessions/<name>-<hash>.sqlite``.

    The hash is of the folder's absolute path, so two folders with the same name differ.
    """
    absolute = os.path.abspath(os.fspath(folder))
    digest = hashlib.sha256(absolute.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(absolute).name)[:40]
    return user_data_dir() / "sessions" / f"{name or 'root'}-{digest}.sqlite"


class SessionStore:
    """An open session file; the :class:`ReviewState` writes every change through it.

    Use :func:`open_session` to open a file and get its state. Every write goes through one
    guarded path (:meth:`_guarded`): a failure (read-only, disk full) is one
    :class:`SessionError` in plain words; with :attr:`on_error` set it is handed to that
    instead and the change stays in memory (the window keeps the edit and says it is unsaved).

    Attributes
    ----------
    read_only : bool
        Opened read-only (another PneumoView writes it, or it cannot be written): the file is
        not touched and every write is refused.
    quarantined : list of str
        Rows that could not be read (e.g. a non-finite coordinate), one line each; they stay
        in the file untouched and are not loaded.
    on_error : callable or None
        ``on_error(err)`` receives a failed write instead of it being raised.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, create: bool = True, read_only: bool = False
    ) -> None:
        self.path = Path(os.fspath(path))
        self.read_only = read_only
        self.quarantined: list[str] = []
        self.on_error: Callable[[SessionError], None] | None = None
        self._lock: SessionLock | None = None
        self._db, self._lock = open_database(
            self.path,
            create=create,
            read_only=read_only,
            create_base=_create_base,
            migrations=MIGRATIONS,
            app_id=APP_ID,
            version=SCHEMA_VERSION,
        )
        #: The rows as last read or written (table -> key -> row): a write changes only the
        #: columns that differ, never a field it did not change.
        self._known: dict[str, dict[str, tuple[Any, ...]]] = {"images": {}, "boxes": {}}
        self._columns = {t: self._table_columns(t) for t in self._known}

    def _table_columns(self, table: str) -> list[str]:
        return [str(r[1]) for r in self._db.execute(f"PRAGMA table_info({table})")]

    def close(self) -> None:
        self._db.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing (ChangeWriter) -----------------------------------------------------------

    def _guarded(self, work: Callable[[sqlite3.Connection], object]) -> bool:
        """Run ``work`` in one transaction; the one place a session write can fail.

        Returns ``True`` when it is in the file, ``False`` when it failed and went to
        :attr:`on_error`.
        """
        try:
            if self.read_only:
                raise SessionReadOnlyError(self.path, "opened read-only: the change is not saved")
            try:
                with self._db:
                    work(cast(sqlite3.Connection, _BindingConnection(self._db)))
            except sqlite3.Error as exc:
                raise SessionError(
                    self.path, reason_for(exc, self.path, "cannot write the session")
                ) from None
            except OSError as exc:
                raise SessionError(
                    self.path, f"cannot write the session: {reason_for_os(exc)}"
                ) from None
        except SessionError as err:
            if self.on_error is None:
                raise
            self.on_error(err)
            return False
        return True

    def _upsert(self, db: sqlite3.Connection, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert new rows; of known ones update only the columns that changed."""
        columns = self._columns[table]
        known = self._known[table]
        for row in rows:
            old = known.get(row[0])
            changed = [i for i in range(1, len(row)) if old is None or old[i] != row[i]]
            if old is not None and not changed:
                continue
            sets = ", ".join(f"{columns[i]} = ?" for i in changed)
            cur = db.execute(
                f"UPDATE {table} SET {sets} WHERE {columns[0]} = ?",
                [row[i] for i in changed] + [row[0]],
            )
            if cur.rowcount == 0:
                marks = ",".join("?" * len(row))
                db.execute(
                    f"INSERT INTO {table} ({', '.join(columns[: len(row)])}) VALUES ({marks})", row
                )

    def _remember(self, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
        for row in rows:
            self._known[table][row[0]] = row

    def write(
        self,
        boxes: Sequence[tuple[ReviewBox | None, ReviewBox | None]],
        images: Sequence[ImageReview],
        action: str,
        author: str,
    ) -> None:
        """Store one change set in one transaction (all of it or, on error, none of it)."""
        image_rows = [_image_row(im) for im in images]
        box_rows = [_box_row(a) for _b, a in boxes if a is not None]
        gone = [b.id for b, a in boxes if a is None and b is not None]

        def work(db: sqlite3.Connection) -> None:
            self._upsert(db, "images", image_rows)
            if gone:
                db.executemany("DELETE FROM boxes WHERE id = ?", [(g,) for g in gone])
            self._upsert(db, "boxes", box_rows)
            if action not in ("time", "open image"):
                now = max([a.modified for _b, a in boxes if a is not None] or [0.0])
                log = [
                    (
                        now,
                        author,
                        action,
                        either_box(b, a).image,
                        either_box(b, a).id,
                        a.status.value if a is not None else "removed",
                    )
                    for b, a in boxes
                ] or [(im.modified, author, action, im.key, "", im.status.value) for im in images]
                db.executemany(
                    "INSERT INTO log (time, author, action, image, box, status) "
                    "VALUES (?,?,?,?,?,?)",
                    log,
                )

        # Remembered only once the transaction is in: the columns of a failed write are
        # written again by the next one.
        if self._guarded(work):
            self._remember("images", image_rows)
            self._remember("boxes", box_rows)
            for g in gone:
                self._known["boxes"].pop(g, None)

    def write_model(self, model: ModelInfo) -> None:
        row = (
            model.name,
            model.path,
            float(model.threshold),
            json.dumps(model.meta, default=str),
            float(model.added),
        )
        self._guarded(
            lambda db: db.execute("INSERT OR REPLACE INTO models VALUES (?,?,?,?,?)", row)
        )

    def write_pending(self, pending: dict[str, list[tuple[XYXY, str]]]) -> None:
        """Replace the stored ground truth of these patientIds (images not open), one transaction."""

        def work(db: sqlite3.Connection) -> None:
            db.executemany(
                "DELETE FROM pending_truth WHERE patient_id = ?", [(p,) for p in pending]
            )
            db.executemany(
                "INSERT INTO pending_truth VALUES (?,?,?,?,?,?)",
                [(pid, *xyxy, origin) for pid, items in pending.items() for xyxy, origin in items],
            )

        self._guarded(work)

    def write_labels(self, labels: Sequence[str]) -> None:
        """Add labels to the session's label set, one transaction (the one guarded path)."""
        rows = [(str(x),) for x in labels]

        def work(db: sqlite3.Connection) -> None:
            db.executemany("INSERT OR IGNORE INTO labels VALUES (?)", rows)

        self._guarded(work)

    def write_view_state(self, values: Mapping[str, str]) -> None:
        """Remember what the reader had on screen (``key -> text``), one transaction.

        Not part of the review: no log row, no undo step. See :meth:`read_view_state`.
        """
        rows = [(str(k), str(v)) for k, v in values.items()]
        self._guarded(
            lambda db: db.executemany("INSERT OR REPLACE INTO view_state VALUES (?, ?)", rows)
        )

    # -- reading ---------------------------------------------------------------------------

    def read_view_state(self) -> dict[str, str]:
        """What :meth:`write_view_state` stored (empty for a new file or one written before version 3).

        The values are untrusted text: the reader of each key checks it.
        """
        try:
            rows = self._db.execute("SELECT key, value FROM view_state").fetchall()
        except sqlite3.Error as exc:
            raise SessionError(self.path, f"unreadable session ({exc})") from None
        return {str(k): str(v) for k, v in rows if isinstance(k, str) and isinstance(v, str)}

    def read_log(self) -> list[dict[str, Any]]:
        """The edit history, oldest first: ``time, author, action, image, box, status``."""
        cur = self._db.execute(
            "SELECT time, author, action, image, box, status FROM log ORDER BY seq"
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]

    def load(self, state: ReviewState) -> None:
        """Fill an empty ``state`` from the file (no events, nothing written).

        A box row that cannot be read (a non-finite coordinate, an unknown status) is
        quarantined: left in the file, not loaded, and listed in :attr:`quarantined`.
        """
        try:
            images = [_image_from(r) for r in self._db.execute("SELECT * FROM images")]
            boxes = []
            for r in self._db.execute("SELECT * FROM boxes ORDER BY rowid"):
                try:
                    boxes.append(_box_from(r))
                except (TypeError, ValueError, KeyError, IndexError) as exc:
                    self.quarantined.append(f"box {str(r[0])[:40]!r} not loaded ({exc})")
            models = [_model_from(r) for r in self._db.execute("SELECT * FROM models")]
            pending: dict[str, list[tuple[XYXY, str]]] = {}
            for pid, x0, y0, x1, y1, origin in self._db.execute(
                "SELECT * FROM pending_truth ORDER BY rowid"
            ):
                pending.setdefault(str(pid), []).append((_xyxy(x0, y0, x1, y1), str(origin)))
            labels = [_text(r[0]) for r in self._db.execute("SELECT label FROM labels")]
        except sqlite3.Error as exc:
            raise SessionError(self.path, f"unreadable session ({exc})") from None
        except (TypeError, ValueError, KeyError, IndexError) as exc:
            raise SessionError(self.path, f"corrupt session data ({exc})") from None
        self._remember("images", [_image_row(im) for im in images])
        self._remember("boxes", [_box_row(b) for b in boxes])
        state._load(images, boxes, models, pending)
        state.extra_labels = sorted(set(labels))


def open_session(
    path: str | os.PathLike[str],
    *,
    reviewer: str | None = None,
    create: bool = True,
    read_only: bool = False,
    **kwargs: Any,
) -> tuple[ReviewState, SessionStore]:
    """Open (or, with ``create``, create) a session file; its state writes through to it.

    ``kwargs`` go to :class:`ReviewState` (``clock``, ``history_size``). With ``read_only``
    the file is checked and read through a read-only connection and never changed (an older
    schema is brought up to date in memory only); the state's writes are refused.

    Raises
    ------
    SessionError
        Not a session file, a schema that is not PneumoView's, a newer schema, corrupt
        content, or it cannot be created. :class:`SessionLockedError` when another
        PneumoView writes it and :class:`SessionReadOnlyError` when it cannot be written:
        both can be opened with ``read_only=True``.
    """
    store = SessionStore(path, create=create, read_only=read_only)
    try:
        state = ReviewState(reviewer=reviewer, **kwargs)
        store.load(state)
    except BaseException:
        store.close()
        raise
    state.writer = store
    return state, store


# ---------------------------------------------------------------------------------------------


def _image_row(im: ImageReview) -> tuple[Any, ...]:
    return (
        im.key,
        im.patient_id,
        im.path,
        im.sop_instance_uid,
        int(im.frame),
        im.status.value,
        float(im.seconds),
        int(im.edits),
        im.reviewer,
        float(im.modified),
        json.dumps(list(im.predicted_by)),
        im.rsna_class,
        im.note,
    )


def _box_row(b: ReviewBox) -> tuple[Any, ...]:
    return (
        b.id,
        b.image,
        b.kind.value,
        *b.xyxy,
        b.score,
        b.status.value,
        b.origin,
        b.author,
        float(b.created),
        float(b.modified),
        *(b.model_xyxy if b.model_xyxy is not None else (None,) * 4),
        b.label,
        b.flag,
    )


def _bind(value: Any) -> Any:
    """Text as SQLite can store it: a file name's undecodable bytes (surrogate escapes) as bytes."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogateescape")
    return value


class _BindingConnection:
    """The connection a write sees: every parameter goes through :func:`_bind`.

    So an image whose file name is not UTF-8 (a Latin-1 name on Linux) is stored, not refused
    with "surrogates not allowed", and reads back as the same ``str`` (:func:`_text`).
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._db.execute(sql, [_bind(v) for v in params])

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> sqlite3.Cursor:
        return self._db.executemany(sql, ([_bind(v) for v in row] for row in rows))


def _text(value: Any) -> str:
    if isinstance(value, bytes):  # stored by _bind: a name with undecodable bytes
        return value.decode("utf-8", "surrogateescape")
    if not isinstance(value, str):
        raise ValueError(f"expected text, found {type(value).__name__}")
    return value


def _real(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"expected a finite number, found {str(value)[:40]!r}")
    return float(value)


def _xyxy(x0: Any, y0: Any, x1: Any, y1: Any) -> XYXY:
    box = (_real(x0), _real(y0), _real(x1), _real(y1))
    if box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(f"empty box {box}")
    return box


def _image_from(r: tuple[Any, ...]) -> ImageReview:
    predicted = json.loads(_text(r[10]))
    if not isinstance(predicted, list) or not all(isinstance(p, str) for p in predicted):
        raise ValueError("predicted_by is not a list of model names")
    return ImageReview(
        key=_text(r[0]),
        patient_id=_text(r[1]),
        path=_text(r[2]),
        sop_instance_uid=_text(r[3]),
        frame=int(_real(r[4])),
        status=ImageStatus(r[5]),
        seconds=_real(r[6]),
        edits=int(_real(r[7])),
        reviewer=_text(r[8]),
        modified=_real(r[9]),
        predicted_by=tuple(predicted),
        rsna_class=_text(r[11]),
        note=_text(r[12]),
    )


def _box_from(r: tuple[Any, ...]) -> ReviewBox:
    return ReviewBox(
        id=_text(r[0]),
        image=_text(r[1]),
        kind=BoxKind(r[2]),
        xyxy=_xyxy(*r[3:7]),
        score=None if r[7] is None else _real(r[7]),
        status=BoxStatus(r[8]),
        origin=_text(r[9]),
        author=_text(r[10]),
        created=_real(r[11]),
        modified=_real(r[12]),
        model_xyxy=None if r[13] is None else _xyxy(*r[13:17]),
        label=_text(r[17]),
        flag=_flag(r[18]),
    )


def _flag(value: Any) -> str:
    flag = _text(value)
    if flag not in BOX_FLAGS:
        raise ValueError(f"unknown box flag {flag[:20]!r}")
    return flag


def _model_from(r: tuple[Any, ...]) -> ModelInfo:
    meta = json.loads(_text(r[3]))
    if not isinstance(meta, dict):
        raise ValueError("model metadata is not a JSON object")
    return ModelInfo(
        name=_text(r[0]), path=_text(r[1]), threshold=_real(r[2]), meta=meta, added=_real(r[4])
    )
