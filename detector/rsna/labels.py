"""RSNA Pneumonia Detection Challenge CSV files: labels, predictions, class info.

Formats
-------
labels (``stage_2_train_labels.csv``)
    ``patientId,x,y,width,height,Target``: one row per box; ``Target=0`` rows have empty box
    fields and mean "no lung opacity". An optional ``score`` column turns it into a
    predictions file.
submission
    ``patientId,PredictionString``: one row per image, ``"conf x y w h conf x y w h ..."``, an
    empty string when nothing was found.
class info (``stage_2_detailed_class_info.csv``)
    ``patientId,class`` with ``Normal``, ``No Lung Opacity / Not Normal`` or ``Lung Opacity``.

Every CSV is untrusted: a UTF-8 BOM, CRLF line ends, quoting, stray whitespace and huge fields
are handled; a cell written with the formula-injection quote (``'=...``,
:mod:`detector.rsna.csv_cells`) reads as the text without it; bytes that are not UTF-8 (a file
name in another encoding) are kept as surrogate escapes; a bad row is skipped and reported as ``"<file>:<line>: <reason>"``; a file that
cannot be used at all raises :class:`LabelsError`. Writing them is
:mod:`detector.rsna.csv_write`.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from detector.errors import PneumoViewError
from detector.rsna.csv_cells import unescape_cell

#: ``(x, y, width, height)`` in pixels.
Box = tuple[float, float, float, float]
#: ``(score, x, y, width, height)``.
ScoredBox = tuple[float, float, float, float, float]

LABEL_COLUMNS = ("patientId", "x", "y", "width", "height", "Target")
SUBMISSION_COLUMNS = ("patientId", "PredictionString")
CLASS_INFO_COLUMNS = ("patientId", "class")
RSNA_CLASSES = ("Normal", "No Lung Opacity / Not Normal", "Lung Opacity")

#: Cap on reported problems kept per file (the count is still exact).
MAX_PROBLEMS = 1000


class LabelsError(PneumoViewError):
    """A CSV file cannot be used at all; ``str(err)`` is ``"<file name>: <reason>"``."""


class ReadCancelled(Exception):
    """A read stopped because its ``cancelled`` check said so (nothing read is returned)."""


#: Rows between two calls of a reader's ``progress`` and ``cancelled`` hooks.
PROGRESS_ROWS = 5000


@dataclass
class LabelsFile:
    """A parsed labels CSV.

    Attributes
    ----------
    boxes : dict
        patientId -> list of ``(x, y, w, h)``; every patientId with a valid row is present,
        images with only ``Target=0`` rows map to ``[]``.
    scores : dict or None
        patientId -> scores parallel to ``boxes`` when the file has a ``score`` column (NaN
        for a box whose score cell is empty: a hand-drawn box).
    lines : dict
        patientId -> the CSV line of each box, parallel to ``boxes``.
    problems : list of str
        ``"<file>:<line>: <reason>"`` for each skipped row (at most :data:`MAX_PROBLEMS`).
    rows : int
        Data rows read (good and bad).
    skipped : int
        Bad rows skipped.
    bad_ids : set of str
        patientIds named on a row skipped for a bad value (not for being a duplicate).
    first_line : dict
        patientId -> the line of its first row (good or bad, duplicates aside).
    """

    path: str
    boxes: dict[str, list[Box]] = field(default_factory=dict)
    scores: dict[str, list[float]] | None = None
    lines: dict[str, list[int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    rows: int = 0
    skipped: int = 0
    bad_ids: set[str] = field(default_factory=set)
    first_line: dict[str, int] = field(default_factory=dict)

    @property
    def positives(self) -> int:
        """Number of images with at least one box."""
        return sum(1 for b in self.boxes.values() if b)


class Predictions(dict[str, list[ScoredBox]]):
    """patientId -> list of ``(score, x, y, w, h)``, with the problems met while reading.

    Attributes
    ----------
    problems : list of str
        ``"<file>:<line>: <reason>"`` per skipped or suspicious row.
    skipped : int
        Rows skipped.
    format : str
        ``"submission"`` or ``"labels"``.
    lines : dict
        patientId -> the CSV line of each box, parallel to the box list.
    """

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.skipped = 0
        self.format = ""
        self.lines: dict[str, list[int]] = {}


class _Problems:
    """Collects row problems (capped) with an exact count."""

    def __init__(self, name: str, sink: list[str]) -> None:
        self.name = name
        self.sink = sink
        self.count = 0

    def add(self, line: int, reason: str) -> None:
        self.count += 1
        if len(self.sink) < MAX_PROBLEMS:
            self.sink.append(f"{self.name}:{line}: {reason}")


# ---------------------------------------------------------------------------------------------
# Reading


def _read_text(path: str | os.PathLike[str]) -> str:
    spath = os.fspath(path)
    if not os.path.exists(spath):
        raise LabelsError(spath, "file not found")
    if os.path.isdir(spath):
        raise LabelsError(spath, "is a folder, not a CSV file")
    try:
        with open(spath, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise LabelsError(spath, f"cannot read ({exc.strerror or exc})") from None
    if not data.strip():
        raise LabelsError(spath, "empty file")
    if b"\x00" in data[:4096]:
        raise LabelsError(spath, "not a CSV file (binary data)")
    # Bytes that are not UTF-8 are kept as surrogate escapes: a patientId taken from a file
    # name that is not UTF-8 (``caf\xe9.dcm``) reads back as the name Python gives that file.
    return data.decode("utf-8-sig", errors="surrogateescape")


def _rows(text: str, path: str, problems: _Problems) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` per CSV record; unparseable records are reported and skipped."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problems.add(reader.line_num, f"unreadable CSV record ({exc})")
            continue
        if not fields or all(not f.strip() for f in fields):
            continue
        yield reader.line_num, [unescape_cell(f.strip()) for f in fields]


def _header(
    rows: Iterator[tuple[int, list[str]]], path: str, required: Iterable[str], what: str
) -> dict[str, int]:
    """Column name -> index, matched case-insensitively; LabelsError when one is missing."""
    try:
        _line, header = next(rows)
    except StopIteration:
        raise LabelsError(path, "empty file (no header row)") from None
    index: dict[str, int] = {}
    for i, name in enumerate(header):
        index.setdefault(name.lower(), i)
    missing = [c for c in required if c.lower() not in index]
    if missing:
        shown = ", ".join(h[:40] for h in header[:8]) + (", ..." if len(header) > 8 else "")
        raise LabelsError(
            path,
            f"not a {what} CSV: missing column(s) {', '.join(missing)} (found: {shown or 'none'})",
        )
    return index


def _number(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} is not a number ({text[:40]!r})") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} is not finite ({text[:40]!r})")
    return value


def _box(x: str, y: str, w: str, h: str) -> Box:
    box = (_number(x, "x"), _number(y, "y"), _number(w, "width"), _number(h, "height"))
    if box[2] <= 0 or box[3] <= 0:
        raise ValueError(f"box width and height must be > 0 (got {box[2]:g} x {box[3]:g})")
    bx, by, bw, bh = box
    if not (math.isfinite(bx + bw) and math.isfinite(by + bh) and math.isfinite(bw * bh)):
        raise ValueError(
            f"box too large: its corner or area is not a finite number (x={bx:g}, y={by:g}, "
            f"width={bw:g}, height={bh:g})"
        )
    return box


def _score(text: str) -> float:
    value = _number(text, "score")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"score must be in [0, 1] (got {value:g})")
    return value


def read_labels(
    path: str | os.PathLike[str],
    *,
    progress: Callable[[int, int], object] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> LabelsFile:
    """Read an RSNA labels CSV (``patientId,x,y,width,height,Target[,score]``).

    Several rows per patient are collected; ``Target=0`` rows give an empty list. Skipped rows:
    bad numbers, zero or negative size, ``Target`` not 0/1, ``Target=1`` without a box,
    ``Target=0`` with a box, an exact duplicate row, a missing patientId.

    Parameters
    ----------
    path : str or PathLike
        The CSV file.
    progress : callable, optional
        ``progress(lines_read, lines_in_file)``, called every :data:`PROGRESS_ROWS` rows and
        once at the end (from the reading thread).
    cancelled : callable, optional
        Asked every :data:`PROGRESS_ROWS` rows; when it returns True the read stops with
        :class:`ReadCancelled`.

    Raises
    ------
    LabelsError
        Missing, empty or binary file, or missing columns.
    ReadCancelled
        ``cancelled()`` returned True.
    """
    spath = os.fspath(path)
    text = _read_text(spath)
    total_lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    out = LabelsFile(path=spath)
    problems = _Problems(Path(spath).name, out.problems)
    rows = _rows(text, spath, problems)
    col = _header(rows, spath, LABEL_COLUMNS, "labels")
    score_col = col.get("score")
    if score_col is not None:
        out.scores = {}
    seen: set[tuple[str, ...]] = set()
    width = max(col.values()) + 1
    for line, fields in rows:
        out.rows += 1
        if out.rows % PROGRESS_ROWS == 0:
            if cancelled is not None and cancelled():
                raise ReadCancelled(spath)
            if progress is not None:
                progress(line, total_lines)
        if len(fields) < width:
            fields = fields + [""] * (width - len(fields))

        def get(name: str, fields: list[str] = fields) -> str:
            return fields[col[name.lower()]]

        pid = get("patientId")
        try:
            if not pid:
                raise ValueError("empty patientId")
            target = get("Target")
            box_fields = [get(n) for n in ("x", "y", "width", "height")]
            has_box = any(box_fields)
            if target not in ("0", "1"):
                raise ValueError(f"Target must be 0 or 1 (got {target[:20]!r})")
            score: float | None = None
            if target == "1":
                if not all(box_fields):
                    raise ValueError("Target=1 without a complete box")
                box: Box | None = _box(*box_fields)
                if score_col is not None:
                    cell = fields[score_col] if score_col < len(fields) else ""
                    # An empty score is a box without one (hand-drawn): kept as NaN.
                    score = _score(cell) if cell else math.nan
            else:
                if has_box:
                    raise ValueError("Target=0 row has a box")
                box = None
        except ValueError as exc:
            problems.add(line, str(exc))
            if pid:
                out.bad_ids.add(pid)
                out.first_line.setdefault(pid, line)
            continue
        key = (pid, target, *box_fields)
        if key in seen:
            # A repeated row loses nothing: not a bad box of the image.
            problems.add(line, "duplicate row")
            continue
        seen.add(key)
        out.first_line.setdefault(pid, line)
        boxes = out.boxes.setdefault(pid, [])
        lines = out.lines.setdefault(pid, [])
        if out.scores is not None:
            out.scores.setdefault(pid, [])
        if box is not None:
            boxes.append(box)
            lines.append(line)
            if out.scores is not None and score is not None:
                out.scores[pid].append(score)
    out.skipped = problems.count
    if cancelled is not None and cancelled():
        raise ReadCancelled(spath)
    if progress is not None:
        progress(total_lines, total_lines)
    return out


def read_predictions(path: str | os.PathLike[str]) -> Predictions:
    """Read predictions in the submission format or the labels format with a ``score`` column.

    A malformed row is reported with its line number and its image is still counted (with no
    box from that row), as the image was run: dropping it would silently remove it from scoring.

    Returns
    -------
    Predictions
        A dict ``patientId -> [(score, x, y, w, h), ...]`` (``[]`` for images with nothing
        found), with ``.problems``, ``.skipped``, ``.format`` and ``.lines``.

    Raises
    ------
    LabelsError
        Unusable file, or a labels-format file without a ``score`` column.
    """
    spath = os.fspath(path)
    text = _read_text(spath)
    first = text.lstrip().split("\n", 1)[0].lower()
    out = Predictions()
    if "predictionstring" in first:
        out.format = "submission"
        problems = _Problems(Path(spath).name, out.problems)
        rows = _rows(text, spath, problems)
        col = _header(rows, spath, SUBMISSION_COLUMNS, "submission")
        pid_i, pred_i = col["patientid"], col["predictionstring"]
        for line, fields in rows:
            pid = fields[pid_i] if pid_i < len(fields) else ""
            try:
                if not pid:
                    raise ValueError("empty patientId")
                preds = parse_prediction_string(fields[pred_i] if pred_i < len(fields) else "")
            except ValueError as exc:
                if pid:
                    problems.add(line, f"{exc}; image {pid[:60]!r} counted with no box from it")
                    out.setdefault(pid, [])
                    out.lines.setdefault(pid, [])
                else:
                    problems.add(line, str(exc))
                continue
            if pid in out:
                problems.add(line, f"duplicate patientId {pid[:60]!r} (boxes merged)")
            out.setdefault(pid, []).extend(preds)
            out.lines.setdefault(pid, []).extend([line] * len(preds))
        out.skipped = problems.count
        return out
    labels = read_labels(spath)
    if labels.scores is None:
        raise LabelsError(
            spath, "no score column: predictions need a confidence per box (labels format + score)"
        )
    out.format = "labels"
    out.problems = labels.problems
    out.skipped = labels.skipped
    unscored = 0
    for pid, boxes in labels.boxes.items():
        scores = labels.scores.get(pid, [])
        kept = [
            (s, b, n)
            for s, b, n in zip(scores, boxes, labels.lines.get(pid, []), strict=True)
            if not math.isnan(s)
        ]
        out[pid] = [(s, *b) for s, b, _n in kept]
        out.lines[pid] = [n for _s, _b, n in kept]
        unscored += len(boxes) - len(kept)
    for pid in labels.bad_ids - set(out):
        # Its only rows were bad: the image was still run, so it is counted (no box).
        out[pid] = []
        out.lines[pid] = []
    if unscored:
        out.problems.append(
            f"{Path(spath).name}: {unscored} box(es) without a score skipped (not predictions)"
        )
        out.skipped += unscored
    return out


def parse_prediction_string(text: str) -> list[ScoredBox]:
    """``"conf x y w h conf x y w h ..."`` -> list of ``(score, x, y, w, h)``.

    Raises
    ------
    ValueError
        A token count that is not a multiple of 5, a bad number or box.
    """
    tokens = text.split()
    if len(tokens) % 5:
        raise ValueError(
            f"PredictionString has {len(tokens)} values, not a multiple of 5 (conf x y w h)"
        )
    out = []
    for i in range(0, len(tokens), 5):
        score = _score(tokens[i])
        out.append((score, *_box(*tokens[i + 1 : i + 5])))
    return out


def read_class_info(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read ``stage_2_detailed_class_info.csv`` (``patientId,class``).

    Repeated rows for one patient (one per box in the RSNA file) are merged; rows with an
    unknown class or conflicting classes are skipped and listed in ``.problems`` of the
    returned dict.

    Raises
    ------
    LabelsError
        Unusable file or missing columns.
    """
    spath = os.fspath(path)
    text = _read_text(spath)
    out = _ClassInfo()
    problems = _Problems(Path(spath).name, out.problems)
    rows = _rows(text, spath, problems)
    col = _header(rows, spath, CLASS_INFO_COLUMNS, "class info")
    known = {c.lower(): c for c in RSNA_CLASSES}
    for line, fields in rows:
        pid = fields[col["patientid"]] if col["patientid"] < len(fields) else ""
        cls = fields[col["class"]] if col["class"] < len(fields) else ""
        if not pid:
            problems.add(line, "empty patientId")
            continue
        name = known.get(" ".join(cls.split()).lower())
        if name is None:
            problems.add(line, f"unknown class {cls[:60]!r} (expected one of {RSNA_CLASSES})")
            continue
        if pid in out and out[pid] != name:
            problems.add(line, f"class {name!r} conflicts with {out[pid]!r} on an earlier row")
            continue
        out[pid] = name
    return out


class _ClassInfo(dict[str, str]):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []


# ---------------------------------------------------------------------------------------------
# Boxes against their image

#: A box may stick out of its image by this many pixels (rounding); it is then clipped.
BOX_SLACK = 1.0


def outside_image(box: Box, width: float | None = None, height: float | None = None) -> bool:
    """Whether an ``(x, y, w, h)`` box sticks out of a ``width`` x ``height`` image by more
    than :data:`BOX_SLACK` (without a size, only negative coordinates are outside)."""
    x, y, w, h = box
    if x < -BOX_SLACK or y < -BOX_SLACK:
        return True
    if width is not None and x + w > width + BOX_SLACK:
        return True
    return height is not None and y + h > height + BOX_SLACK


def outside_problem(
    where: str, box: Box, width: int | None = None, height: int | None = None, image: str = ""
) -> str:
    """The one wording of "box outside its image" (``train`` and ``eval`` alike)."""
    x, y, w, h = box
    size = f"the {width}x{height} image" if width and height else "the image"
    return f"{where}: box (x={x:g}, y={y:g}, width={w:g}, height={h:g}) lies outside {size}" + (
        f" {image}" if image else ""
    )
