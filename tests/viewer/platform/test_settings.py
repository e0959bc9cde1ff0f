"""AppSettings persistence (INI through QSettings)."""

from __future__ import annotations

from viewer.platform.settings import (
    MAX_RECENT,
    AppSettings,
    load_settings,
    open_qsettings,
    save_settings,
)


def test_round_trip(tmp_path):
    """Every field survives save and load."""
    store = open_qsettings(tmp_path / "s.ini")
    prefs = AppSettings(show_overlays=False, geometry=b"\x01\x02", window_state=b"\x03")
    prefs.add_recent(str(tmp_path))
    save_settings(prefs, store)
    loaded = load_settings(open_qsettings(tmp_path / "s.ini"))
    assert loaded == prefs


def test_recent_is_bounded_and_deduplicated(tmp_path):
    """Re-opening moves a path to the front; the list keeps MAX_RECENT entries."""
    prefs = AppSettings()
    for i in range(MAX_RECENT + 3):
        prefs.add_recent(str(tmp_path / f"f{i}.dcm"))
    prefs.add_recent(str(tmp_path / "f5.dcm"))
    assert len(prefs.recent) == MAX_RECENT
    assert (
        prefs.recent[0].endswith("f5.dcm") and sum(p.endswith("f5.dcm") for p in prefs.recent) == 1
    )
    assert prefs.last_folder == str(tmp_path)


def test_newer_schema_falls_back_to_defaults(tmp_path):
    """Settings from a newer version are not misread."""
    path = tmp_path / "s.ini"
    path.write_text("[General]\nschema_version=99\nlast_folder=/x\n")
    assert load_settings(open_qsettings(path)) == AppSettings()


def test_default_location_honours_env(tmp_path, monkeypatch):
    """PNEUMOVIEW_CONFIG_DIR redirects the settings file (tests never touch the real one)."""
    from viewer.platform.settings import settings_file

    monkeypatch.setenv("PNEUMOVIEW_CONFIG_DIR", str(tmp_path / "cfg"))
    assert settings_file() == tmp_path / "cfg" / "pneumoview.ini"
