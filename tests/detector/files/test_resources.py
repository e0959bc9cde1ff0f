"""One helper finds shipped files, from a source checkout and inside a PyInstaller bundle."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from detector.files.resources import resource_path, resources_root

ROOT = Path(__file__).resolve().parents[3]


class TestResourcePath:
    def test_source_checkout_is_the_repository_resources_folder(self, monkeypatch):
        """From source, shipped files sit in the repository's resources/ folder."""
        monkeypatch.delattr(sys, "_MEIPASS", raising=False)
        assert resources_root() == ROOT / "resources"
        assert resource_path("models", "real.pt") == ROOT / "resources" / "models" / "real.pt"

    def test_frozen_bundle_uses_meipass(self, monkeypatch, tmp_path):
        """In a PyInstaller bundle, resources/ sits under sys._MEIPASS."""
        monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
        assert resource_path("icons", "pneumoview.png") == tmp_path / "resources" / "icons" / (
            "pneumoview.png"
        )

    @pytest.mark.parametrize("name", ["pneumoview.png", "pneumoview.ico", "pneumoview.icns"])
    def test_app_icons_ship(self, name):
        """The icon of each platform's build is in the checkout (build.spec bundles it)."""
        assert resource_path("icons", name).stat().st_size > 0
