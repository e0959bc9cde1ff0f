"""The ``detect`` journal: every result appended as it comes, so a kill or Ctrl+C loses nothing.

One JSON object per line, beside the output (``.<out name>.journal.jsonl``, or one
``.<out name>.part<r>-of-<n>.jsonl`` per rank under ``torchrun``). The first line holds the
run's settings (model, threshold, frame) so that ``--resume`` refuses to mix results of
different settings; every other line is one image::

    {"source": "/abs/path.dcm", "image_id": "p1", "image_size": [h, w], "error": null,
     "detections": [[x1, y1, x2, y2, score, label], ...]}

A line cut short by a kill is ignored. The journal is untrusted input like any other file:
lines that do not have this shape are skipped. It is deleted once the final CSV is written.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from detector.types import Detection, DetectionResult

VERSION = 1
_MARK = "pneumoview_journal"
#: Names longer than this are shortened (with a hash) so that the journal name stays legal.
_MAX_NAME = 200


def _short(name: str) -> str:
    if len(name) <= _MAX_NAME:
        return name
    digest = hashlib.sha1(name.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    return f"{name[: _MAX_NAME - 11]}-{digest}"


def journal_path(out: str | os.PathLike[str], rank: int = 0, world: int = 1) -> Path:
    """Where a run writing ``out`` keeps its journal (one per rank when ``world > 1``)."""
    target = Path(out)
    name = _short(target.name)
    if world > 1:
        return target.with_name(f".{name}.part{rank}-of-{world}.jsonl")
    return target.with_name(f".{name}.journal.jsonl")


def existing_journals(out: str | os.PathLike[str]) -> list[Path]:
    """Every journal of ``out`` on disk (single-process and per-rank ones), sorted."""
    target = Path(out)
    name = re.escape(_short(target.name))
    pattern = re.compile(rf"^\.{name}\.(journal|part\d+-of-\d+)\.jsonl$")
    try:
        entries = os.listdir(target.parent)
    except OSError:
        return []
    return sorted(target.parent / e for e in entries if pattern.match(e))


def source_key(source: str | os.PathLike[str]) -> str:
    """How a journal names an input file: its absolute path."""
    return os.path.abspath(os.fspath(source))


def result_record(source: str, result: DetectionResult) -> dict[str, Any]:
    return {
        "source": source_key(source),
        "image_id": result.image_id,
        "image_size": list(result.image_size),
        "error": result.error,
        "detections": [[*d.box_xyxy, d.score, d.label] for d in result.detections],
    }


def _record_result(record: Any) -> DetectionResult:
    """A journal line back to a result; ``ValueError`` for anything of another shape."""
    if not isinstance(record, dict):
        raise ValueError("not an object")
    image_id, size, error = record.get("image_id"), record.get("image_size"), record.get("error")
    if not isinstance(image_id, str) or not isinstance(record.get("source"), str):
        raise ValueError("no image_id/source")
    if not isinstance(size, list) or len(size) != 2:
        raise ValueError("bad image_size")
    if error is not None and not isinstance(error, str):
        raise ValueError("bad error")
    dets = []
    for row in record.get("detections") or []:
        if not isinstance(row, list) or len(row) != 6:
            raise ValueError("bad detection")
        x1, y1, x2, y2, score = (float(v) for v in row[:5])
        if not all(math.isfinite(v) for v in (x1, y1, x2, y2, score)):
            raise ValueError("non-finite detection")
        dets.append(Detection((x1, y1, x2, y2), score, int(row[5])))
    return DetectionResult(image_id, dets, (int(size[0]), int(size[1])), error)


@dataclass
class JournalContents:
    """What earlier runs recorded: settings per journal and results by source (last wins)."""

    settings: list[dict[str, Any]] = field(default_factory=list)
    results: dict[str, DetectionResult] = field(default_factory=dict)
    bad_lines: int = 0


def read_journals(paths: Iterable[Path]) -> JournalContents:
    """Read journals written by :class:`JournalWriter`; damaged lines are counted, not fatal."""
    out = JournalContents()
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as fh:
                lines = fh.read().splitlines()
        except OSError:
            continue
        for line in lines:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if isinstance(record, dict) and _MARK in record:
                    settings = record.get("settings")
                    out.settings.append(settings if isinstance(settings, dict) else {})
                    continue
                result = _record_result(record)
            except (ValueError, TypeError, OverflowError):
                out.bad_lines += 1  # e.g. the last line of a killed run
                continue
            out.results[record["source"]] = result
    return out


class JournalWriter:
    """Appends results to a journal, flushed per line (a SIGKILL keeps every written line)."""

    def __init__(self, path: str | os.PathLike[str], settings: dict[str, Any]) -> None:
        self.path = Path(path)
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        self._fh: IO[str] | None = open(
            self.path, "a", encoding="utf-8", errors="surrogateescape", newline="\n"
        )
        if not fresh:
            # A killed run may have left half a line; start on a new one.
            self._fh.write("\n")
        if fresh:
            self._write({_MARK: VERSION, "settings": settings})

    def _write(self, record: dict[str, Any]) -> None:
        assert self._fh is not None
        self._fh.write(json.dumps(record) + "\n")
        self._fh.flush()

    def add(self, source: str, result: DetectionResult) -> None:
        self._write(result_record(source, result))

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
