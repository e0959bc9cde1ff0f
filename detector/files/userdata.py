"""Per-user data folder without Qt (the detector core must not import the viewer or Qt).

``$PNEUMOVIEW_DATA_DIR`` wins (tests always set it); otherwise the platform's usual place,
the same folders Qt's ``QStandardPaths.AppLocalDataLocation`` would pick for "pneumoview":
``%LOCALAPPDATA%\\pneumoview`` on Windows, ``~/Library/Application Support/pneumoview`` on
macOS and ``$XDG_DATA_HOME/pneumoview`` (default ``~/.local/share/pneumoview``) elsewhere.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DATA_ENV = "PNEUMOVIEW_DATA_DIR"
APP_NAME = "pneumoview"


def user_data_dir() -> Path:
    """The per-user data folder (not created here)."""
    override = os.environ.get(DATA_ENV)
    if override:
        return Path(override)
    home = Path.home()
    if sys.platform.startswith("win"):
        base = os.environ.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return Path(base) / APP_NAME
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / APP_NAME
    xdg = os.environ.get("XDG_DATA_HOME")
    base_path = Path(xdg) if xdg and os.path.isabs(xdg) else home / ".local" / "share"
    return base_path / APP_NAME
