"""The model versions improved from a session: ``<session>.models/*.json`` (untrusted).

Another job writes one JSON file per improved checkpoint (``parent``, ``metrics`` with
``before`` / ``after``, ``date``, ...). The report lists what it can read; a file it cannot
read is one line naming the file and the reason, and the rest of the report is written.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The largest version file read (a lineage record is a few kilobytes).
MAX_VERSION_BYTES = 1 << 20
#: Metric names shown first when a version has them (others follow, sorted).
KNOWN_METRICS = ("rsna_map", "map50", "sensitivity", "specificity")


@dataclass(frozen=True)
class ModelVersion:
    """One improved checkpoint's record: its file name, parent and metrics before / after."""

    name: str
    parent: str = ""
    date: str = ""
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)


def versions_dir(session: str | os.PathLike[str]) -> Path:
    """``<session>.models`` next to the session file."""
    path = Path(session)
    return path.with_name(path.name + ".models")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _metrics(value: Any) -> dict[str, float]:
    """Finite numbers of a metrics mapping (anything else is left out)."""
    if not isinstance(value, Mapping):
        return {}
    out = {}
    for key, number in value.items():
        if isinstance(number, (int, float)) and not isinstance(number, bool):
            if math.isfinite(float(number)):
                out[str(key)] = float(number)
    return out


def _parse(path: Path) -> ModelVersion:
    if path.stat().st_size > MAX_VERSION_BYTES:
        raise ValueError(f"larger than {MAX_VERSION_BYTES} bytes")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, Mapping):
        raise ValueError("not a JSON object")
    metrics = data.get("metrics")
    metrics = metrics if isinstance(metrics, Mapping) else {}
    parent = data.get("parent")
    if isinstance(parent, Mapping):  # {"path": ..., "sha256": ...}
        parent = parent.get("path") or parent.get("name")
    return ModelVersion(
        name=path.stem,
        parent=Path(_text(parent)).name if parent else "",
        date=_text(data.get("date")),
        before=_metrics(metrics.get("before", data.get("before"))),
        after=_metrics(metrics.get("after", data.get("after"))),
    )


def read_versions(session: str | os.PathLike[str]) -> tuple[list[ModelVersion], list[str]]:
    """The readable version records next to ``session`` (by name), and one line per problem.

    Returns
    -------
    versions : list of ModelVersion
        Empty when there is no ``<session>.models`` folder.
    problems : list of str
        ``"<file>: <reason>"`` for each file that could not be read.
    """
    folder = versions_dir(session)
    if not folder.is_dir():
        return [], []
    versions, problems = [], []
    for path in sorted(folder.glob("*.json")):
        try:
            if not path.is_file():
                raise ValueError("not a regular file")
            versions.append(_parse(path))
        except (OSError, ValueError, RecursionError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            problems.append(f"{path.name}: {reason}")
    return versions, problems
