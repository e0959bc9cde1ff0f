"""The viewer finds shipped files through detector.files.resources only."""

from __future__ import annotations

import sys

import detector.files.resources
import viewer.platform.user_folders
from viewer.platform.user_folders import app_icon_path, models_dir


def test_viewer_has_no_resource_helper_of_its_own():
    """viewer.platform.user_folders re-uses the detector's helper (one place knows about _MEIPASS)."""
    assert viewer.platform.user_folders.resource_path is detector.files.resources.resource_path


def test_models_and_icon_follow_meipass(monkeypatch, tmp_path):
    """Frozen, the models and the icon come from the bundle."""
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert models_dir() == tmp_path / "resources" / "models"
    assert app_icon_path() == tmp_path / "resources" / "icons" / "pneumoview.png"


def test_app_window_icon_is_set(qapp):
    """create_app gives the application (and so every window) the PneumoView icon."""
    from viewer.platform.qt_app import create_app

    app = create_app()
    assert app is qapp
    sizes = app.windowIcon().availableSizes()
    assert sizes and sizes[0].width() == 512
