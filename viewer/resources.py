"""Files shipped with the viewer and per-user folders, also inside a PyInstaller bundle."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def resource_path(name: str) -> Path:
    """Path of a file shipped in the ``viewer`` package (``sys._MEIPASS`` when frozen)."""
    base = getattr(sys, "_MEIPASS", None)
    root = Path(base) / "viewer" if base else Path(__file__).resolve().parent
    return root / name


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
    base = getattr(sys, "_MEIPASS", None)
    root = Path(base) if base else Path(__file__).resolve().parent.parent
    return root / "resources" / "models"


def default_model_path() -> Path | None:
    """The checkpoint used when the reader runs the detector without loading one."""
    path = models_dir() / "demo.pt"
    return path if path.is_file() else None
