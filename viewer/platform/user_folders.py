"""Per-user folders and the viewer's view of shipped files.

Shipped files (models, the app icon) are found only through :func:`detector.files.resources.resource_path`,
which works from a source checkout and inside a PyInstaller bundle (``sys._MEIPASS``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from detector.files.resources import resource_path


def user_dir(env: str, location: str, fallback: Path) -> Path:
    """A per-user folder: ``$env`` if set, else Qt's standard ``location``, else ``fallback``."""
    override = os.environ.get(env)
    if override:
        return Path(override)
    from PySide6 import QtCore

    kind = getattr(QtCore.QStandardPaths.StandardLocation, location)
    return Path(QtCore.QStandardPaths.writableLocation(kind) or fallback)


def cache_dir() -> Path:
    """Per-user cache folder (``QStandardPaths.CacheLocation``; ``$PNEUMOVIEW_CACHE_DIR`` wins)."""
    return user_dir("PNEUMOVIEW_CACHE_DIR", "CacheLocation", Path.home() / ".cache" / "pneumoview")


def demo_study_dir() -> Path:
    """Where ``--demo`` writes the synthetic demo study."""
    return cache_dir() / "demo"


def models_dir() -> Path:
    """The detector checkpoints shipped with PneumoView (``resources/models``)."""
    return resource_path("models")


def app_icon_path() -> Path:
    """The application icon (``resources/icons/pneumoview.png``)."""
    return resource_path("icons", "pneumoview.png")


def default_model_path(paths: Sequence[str] = ()) -> Path | None:
    """The checkpoint used when the reader runs the detector without loading one: the
    real-data model, or the demo model when every open image is a synthetic phantom
    (:func:`detector.model.choice.default_model`)."""
    from detector.model.choice import default_model

    path = Path(default_model(paths))
    return path if path.is_file() else None
