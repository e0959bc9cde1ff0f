"""Persistent preferences: recent files, last folder, overlays, dock layout (QSettings, INI file).

The file lives in the per-user config folder (``QStandardPaths.AppConfigLocation``), or in
``$PNEUMOVIEW_CONFIG_DIR`` when set: tests point that at a temporary folder so they never touch
the developer's settings.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from PySide6 import QtCore

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MAX_RECENT = 10
CONFIG_ENV = "PNEUMOVIEW_CONFIG_DIR"


@dataclass
class AppSettings:
    """Everything the viewer remembers between launches."""

    recent: list[str] = field(default_factory=list)
    last_folder: str = ""
    show_overlays: bool = True
    #: Run the detector on every image as soon as it is opened.
    auto_detect: bool = False
    #: A window/level the reader chose stays when moving to another image.
    keep_window: bool = False
    #: The review-keys hint under the image (until the reader closes it).
    show_hint: bool = True
    geometry: bytes = b""
    window_state: bytes = b""
    schema_version: int = SCHEMA_VERSION

    def add_recent(self, path: str) -> None:
        """Put ``path`` first in the recent list (no duplicates, at most :data:`MAX_RECENT`)."""
        path = os.path.abspath(path)
        self.recent = [path] + [p for p in self.recent if p != path]
        del self.recent[MAX_RECENT:]
        self.last_folder = path if os.path.isdir(path) else os.path.dirname(path)


def config_dir() -> Path:
    """Folder that holds ``pneumoview.ini``."""
    from viewer.platform.user_folders import user_dir

    return user_dir(CONFIG_ENV, "AppConfigLocation", Path.home() / ".config" / "pneumoview")


def settings_file() -> Path:
    return config_dir() / "pneumoview.ini"


def open_qsettings(path: str | os.PathLike[str] | None = None) -> QtCore.QSettings:
    """A QSettings on the INI file (the default file unless ``path`` is given)."""
    target = Path(path) if path is not None else settings_file()
    target.parent.mkdir(parents=True, exist_ok=True)
    return QtCore.QSettings(str(target), QtCore.QSettings.Format.IniFormat)


def _bytes(value: object) -> bytes:
    if isinstance(value, QtCore.QByteArray):
        return bytes(value.data())
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return b""


def load_settings(store: QtCore.QSettings) -> AppSettings:
    """Read settings; unknown or damaged values fall back to defaults (logged, never fatal)."""
    out = AppSettings()
    version = store.value("schema_version", SCHEMA_VERSION)
    try:
        if int(str(version)) > SCHEMA_VERSION:
            logger.warning(
                "%s: settings written by a newer version (%s); using defaults",
                store.fileName(),
                version,
            )
            return out
    except ValueError:
        pass
    try:
        recent = json.loads(str(store.value("recent", "[]")))
        out.recent = [str(p) for p in recent if isinstance(p, str)][:MAX_RECENT]
    except (json.JSONDecodeError, TypeError):
        logger.warning("%s: 'recent' is not a JSON list; ignored", store.fileName())
    out.last_folder = str(store.value("last_folder", "") or "")
    out.show_overlays = str(store.value("show_overlays", "true")).lower() in ("true", "1")
    out.auto_detect = str(store.value("auto_detect", "false")).lower() in ("true", "1")
    out.keep_window = str(store.value("keep_window", "false")).lower() in ("true", "1")
    out.show_hint = str(store.value("show_hint", "true")).lower() in ("true", "1")
    out.geometry = _bytes(store.value("geometry"))
    out.window_state = _bytes(store.value("window_state"))
    return out


def save_settings(settings: AppSettings, store: QtCore.QSettings) -> None:
    store.setValue("schema_version", SCHEMA_VERSION)
    store.setValue("recent", json.dumps(settings.recent))
    store.setValue("last_folder", settings.last_folder)
    store.setValue("show_overlays", "true" if settings.show_overlays else "false")
    store.setValue("auto_detect", "true" if settings.auto_detect else "false")
    store.setValue("keep_window", "true" if settings.keep_window else "false")
    store.setValue("show_hint", "true" if settings.show_hint else "false")
    store.setValue("geometry", QtCore.QByteArray(settings.geometry))
    store.setValue("window_state", QtCore.QByteArray(settings.window_state))
    store.sync()
    if store.status() != QtCore.QSettings.Status.NoError:
        logger.warning("%s: settings could not be saved (%s)", store.fileName(), store.status())
