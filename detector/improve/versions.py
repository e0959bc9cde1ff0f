"""Model versions beside a session: ``<session>.models/<base>-v<N>.pt`` and its lineage JSON.

The lineage record (``<base>-v<N>.json``, also stored in the checkpoint's metadata under
``lineage``) says where a version came from: ``parent`` (checkpoint path) and
``parent_sha256``, ``session``, the image ids ``trained_on`` and ``held_out``, ``epochs``,
``metrics_before`` / ``metrics_after`` (on the holdout), ``better``, ``date`` (UTC),
``machine`` and ``device``. A JSON file is untrusted input: one that cannot be read is listed
with its reason, never an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector.files.output import atomic_write_text

_VERSION = re.compile(r"^(?P<base>.+)-v(?P<n>\d{1,6})$")
#: A lineage file larger than this is not read (a real one is a few kB per 1,000 images).
MAX_LINEAGE_BYTES = 16 * 1024 * 1024


def models_dir(session: str | os.PathLike[str]) -> Path:
    """``/data/read.pvsession`` -> ``/data/read.pvsession.models``."""
    path = Path(session)
    return path.with_name(path.name + ".models")


def base_name(checkpoint: str | os.PathLike[str]) -> str:
    """The family name of a checkpoint: ``tiny.pt`` and ``tiny-v3.pt`` are both ``tiny``."""
    stem = Path(checkpoint).stem
    m = _VERSION.match(stem)
    return m.group("base") if m else stem


def next_version_path(session: str | os.PathLike[str], parent: str | os.PathLike[str]) -> Path:
    """The next free ``<session>.models/<base>-v<N>.pt`` (N one past the highest there)."""
    folder = models_dir(session)
    base = base_name(parent)
    highest = 0
    if folder.is_dir():
        for entry in folder.iterdir():
            m = _VERSION.match(entry.stem)
            if m and m.group("base") == base and entry.suffix in (".pt", ".json"):
                highest = max(highest, int(m.group("n")))
    return folder / f"{base}-v{highest + 1}.pt"


def lineage_path(checkpoint: str | os.PathLike[str]) -> Path:
    """``x/tiny-v2.pt`` -> ``x/tiny-v2.json``."""
    return Path(checkpoint).with_suffix(".json")


def sha256_of(path: str | os.PathLike[str]) -> str:
    """The file's SHA-256 as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_lineage(checkpoint: str | os.PathLike[str], record: dict[str, Any]) -> Path:
    """Write ``record`` as the checkpoint's lineage JSON (atomically); returns its path."""
    path = lineage_path(checkpoint)
    atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True, allow_nan=False) + "\n")
    return path


@dataclass
class ModelVersion:
    """One version found beside a session."""

    path: Path
    lineage: dict[str, Any]
    problem: str = ""

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def better(self) -> bool | None:
        value = self.lineage.get("better")
        return value if isinstance(value, bool) else None

    def summary(self) -> str:
        """One line: name, RSNA before → after on the holdout, better or not."""
        if self.problem:
            return f"{self.name} (lineage unreadable: {self.problem})"
        before = _metric(self.lineage.get("metrics_before"))
        after = _metric(self.lineage.get("metrics_after"))
        verdict = {True: "better", False: "not better", None: "?"}[self.better]
        return f"{self.name}: RSNA {before} → {after} on the holdout ({verdict})"


def _metric(metrics: object) -> str:
    if isinstance(metrics, dict):
        value = metrics.get("rsna_map")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return f"{value:.4f}"
    return "?"


def read_lineage(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a lineage JSON.

    Raises
    ------
    ValueError
        Too large, not UTF-8 JSON, or not an object (the reason in words).
    OSError
        The file cannot be read.
    """
    size = os.path.getsize(path)
    if size > MAX_LINEAGE_BYTES:
        raise ValueError(f"{size} bytes is too large for a lineage record")
    try:
        data = json.loads(Path(path).read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def list_versions(session: str | os.PathLike[str]) -> list[ModelVersion]:
    """The ``*.pt`` of ``<session>.models/`` with their lineage, oldest version first."""
    folder = models_dir(session)
    if not folder.is_dir():
        return []
    found: list[tuple[tuple[str, int], ModelVersion]] = []
    for entry in folder.iterdir():
        m = _VERSION.match(entry.stem)
        if entry.suffix != ".pt" or m is None or not entry.is_file():
            continue
        lineage: dict[str, Any] = {}
        problem = ""
        json_path = lineage_path(entry)
        if json_path.exists():
            try:
                lineage = read_lineage(json_path)
            except (OSError, ValueError) as exc:
                problem = str(exc) if isinstance(exc, ValueError) else (exc.strerror or str(exc))
        else:
            problem = "no lineage file"
        found.append(((m.group("base"), int(m.group("n"))), ModelVersion(entry, lineage, problem)))
    return [v for _k, v in sorted(found, key=lambda kv: kv[0])]
