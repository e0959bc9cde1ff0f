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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from detector.errors import PneumoViewError
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
from detector.review.state import ReviewState

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


class SessionError(PneumoViewError):
    """A session file that cannot be used; ``str(err)`` is ``"<file name>: <reason>"``."""


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

    Use :func:`open_session` to open a file and get its state.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        self.path = Path(os.fspath(path))
        self._db = _connect(self.path, create=create)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing (ChangeWriter) -----------------------------------------------------------

    def write(
        self,
        boxes: Sequence[tuple[ReviewBox | None, ReviewBox | None]],
        images: Sequence[ImageReview],
        action: str,
        author: str,
    ) -> None:
        """Store one change set in one transaction (all of it or, on error, none of it)."""
        try:
            with self._db:
                if images:
                    self._db.executemany(
                        "INSERT OR REPLACE INTO images VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        [_image_row(im) for im in images],
                    )
                gone = [(b.id,) for b, a in boxes if a is None and b is not None]
                if gone:
                    self._db.executemany("DELETE FROM boxes WHERE id = ?", gone)
                rows = [_box_row(a) for _b, a in boxes if a is not None]
                if rows:
                    self._db.executemany(
                        "INSERT OR REPLACE INTO boxes VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        rows,
                    )
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
                    ] or [
                        (im.modified, author, action, im.key, "", im.status.value) for im in images
                    ]
                    self._db.executemany(
                        "INSERT INTO log (time, author, action, image, box, status) "
                        "VALUES (?,?,?,?,?,?)",
                        log,
                    )
        except sqlite3.Error as exc:
            raise SessionError(self.path, f"cannot write the session ({exc})") from None

    def write_model(self, model: ModelInfo) -> None:
        try:
            with self._db:
                self._db.execute(
                    "INSERT OR REPLACE INTO models VALUES (?,?,?,?,?)",
                    (
                        model.name,
                        model.path,
                        float(model.threshold),
                        json.dumps(model.meta, default=str),
                        float(model.added),
                    ),
                )
        except sqlite3.Error as exc:
            raise SessionError(self.path, f"cannot write the session ({exc})") from None

    def write_pending(self, pending: dict[str, list[tuple[XYXY, str]]]) -> None:
        """Replace the stored ground truth of these patientIds (images not open), one transaction."""
        try:
            with self._db:
                self._db.executemany(
                    "DELETE FROM pending_truth WHERE patient_id = ?", [(p,) for p in pending]
                )
                self._db.executemany(
                    "INSERT INTO pending_truth VALUES (?,?,?,?,?,?)",
                    [
                        (pid, *xyxy, origin)
                        for pid, items in pending.items()
                        for xyxy, origin in items
                    ],
                )
        except sqlite3.Error as exc:
            raise SessionError(self.path, f"cannot write the session ({exc})") from None

    def write_labels(self, labels: Sequence[str]) -> None:
        """Add labels to the session's label set, one transaction."""
        try:
            with self._db:
                self._db.executemany(
                    "INSERT OR IGNORE INTO labels VALUES (?)", [(str(x),) for x in labels]
                )
        except sqlite3.Error as exc:
            raise SessionError(self.path, f"cannot write the session ({exc})") from None

    def write_view_state(self, values: Mapping[str, str]) -> None:
        """Remember what the reader had on screen (``key -> text``), one transaction.

        Not part of the review: no log row, no undo step. See :meth:`read_view_state`.
        """
        try:
            with self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO view_state VALUES (?, ?)",
                    [(str(k), str(v)) for k, v in values.items()],
                )
        except sqlite3.Error as exc:
            raise SessionError(self.path, f"cannot write the session ({exc})") from None

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
        """Fill an empty ``state`` from the file (no events, nothing written)."""
        try:
            images = [_image_from(r) for r in self._db.execute("SELECT * FROM images")]
            boxes = [_box_from(r) for r in self._db.execute("SELECT * FROM boxes ORDER BY rowid")]
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
        state._load(images, boxes, models, pending)
        state.extra_labels = sorted(set(labels))


def open_session(
    path: str | os.PathLike[str],
    *,
    reviewer: str | None = None,
    create: bool = True,
    **kwargs: Any,
) -> tuple[ReviewState, SessionStore]:
    """Open (or, with ``create``, create) a session file; its state writes through to it.

    ``kwargs`` go to :class:`ReviewState` (``clock``, ``history_size``).

    Raises
    ------
    SessionError
        Not a session file, a newer schema, corrupt content, or it cannot be created.
    """
    store = SessionStore(path, create=create)
    try:
        state = ReviewState(reviewer=reviewer, **kwargs)
        store.load(state)
    except BaseException:
        store.close()
        raise
    state.writer = store
    return state, store


# ---------------------------------------------------------------------------------------------


def _connect(path: Path, *, create: bool) -> sqlite3.Connection:
    spath = os.fspath(path)
    if path.is_dir():
        raise SessionError(spath, "is a folder, not a session file")
    if not create and not path.is_file():
        raise SessionError(spath, "file not found")
    new = not path.exists() or path.stat().st_size == 0
    if new:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SessionError(spath, f"cannot create its folder ({exc.strerror or exc})") from None
    else:
        try:
            with open(spath, "rb") as fh:
                magic = fh.read(16)
        except OSError as exc:
            raise SessionError(spath, f"cannot read ({exc.strerror or exc})") from None
        if magic != b"SQLite format 3\x00":
            raise SessionError(spath, "not a PneumoView session file (not an SQLite database)")
    try:
        db = sqlite3.connect(spath, isolation_level="DEFERRED", check_same_thread=False)
    except sqlite3.Error as exc:
        raise SessionError(spath, f"cannot open ({exc})") from None
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=OFF")
        db.execute("PRAGMA trusted_schema=OFF")
        _check_and_migrate(db, spath, new)
    except sqlite3.DatabaseError as exc:
        db.close()
        raise SessionError(spath, f"not a usable session file ({exc})") from None
    except SessionError:
        db.close()
        raise
    return db


def _check_and_migrate(db: sqlite3.Connection, path: str, new: bool) -> None:
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if new or not tables:
        with db:
            db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            db.execute("CREATE TABLE migrations (version INTEGER PRIMARY KEY, applied REAL)")
            db.execute("INSERT INTO meta VALUES ('app', ?)", (APP_ID,))
            db.execute("INSERT INTO meta VALUES ('schema_version', '0')")
        version = 0
    else:
        if "meta" not in tables:
            raise SessionError(path, "not a PneumoView session file (an unrelated SQLite database)")
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("app") != APP_ID:
            raise SessionError(path, "not a PneumoView session file (an unrelated SQLite database)")
        try:
            version = int(meta.get("schema_version", ""))
        except ValueError:
            raise SessionError(
                path, f"bad schema_version {str(meta.get('schema_version'))[:20]!r}"
            ) from None
        if version > SCHEMA_VERSION:
            raise SessionError(
                path,
                f"written by a newer PneumoView (session schema {version}; this version reads "
                f"up to {SCHEMA_VERSION})",
            )
        if version < 0:
            raise SessionError(path, f"bad schema_version {version}")
    for target in range(version + 1, SCHEMA_VERSION + 1):
        with db:
            MIGRATIONS[target](db)
            db.execute("INSERT OR REPLACE INTO migrations VALUES (?, julianday('now'))", (target,))
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(target),))
    if version == SCHEMA_VERSION:
        needed = {"images", "boxes", "models", "pending_truth", "log", "view_state", "labels"}
        missing = needed - tables
        if missing:
            raise SessionError(
                path, f"damaged session: table(s) {', '.join(sorted(missing))} missing"
            )


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


def _text(value: Any) -> str:
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
