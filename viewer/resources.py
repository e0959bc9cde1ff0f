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


def cache_dir() -> Path:
    """Per-user cache folder (``QStandardPaths.CacheLocation``; ``$PNEUMOVIEW_CACHE_DIR`` wins)."""
    override = os.environ.get("PNEUMOVIEW_CACHE_DIR")
    if override:
        return Path(override)
    from PySide6 import QtCore

    location = QtCore.QStandardPaths.writableLocation(
        QtCore.QStandardPaths.StandardLocation.CacheLocation
    )
    return Path(location or Path.home() / ".cache" / "pneumoview")


def demo_study_dir() -> Path:
    """Where ``--demo`` writes the synthetic demo study."""
    return cache_dir() / "demo"
