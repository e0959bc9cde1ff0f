"""The xcb check: what Qt's X11 plugin needs is found before Qt is started."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from viewer.platform.xcb_check import (
    APT_LINE,
    missing_libraries,
    parse_ldd_missing,
    platform_will_be_xcb,
    xcb_plugin,
)

ROOT = Path(__file__).resolve().parents[3]

LDD_SAMPLE = """\
\tlinux-vdso.so.1 (0x00007ffd3b1f2000)
\tlibxkbcommon-x11.so.0 => not found
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f8618fab000)
\tlibxcb-icccm.so.4 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f861721e000)
\tlibxcb-icccm.so.4 => not found
"""


class TestParseLddMissing:
    def test_lists_each_missing_library_once(self):
        """Only '=> not found' lines count, each library once, in ldd's order."""
        assert parse_ldd_missing(LDD_SAMPLE) == ["libxkbcommon-x11.so.0", "libxcb-icccm.so.4"]

    def test_nothing_missing(self):
        """Resolved libraries and the vdso line are not reported."""
        assert (
            parse_ldd_missing("\tlibc.so.6 => /lib/libc.so.6 (0x1)\n\tlinux-vdso.so.1 (0x2)\n")
            == []
        )


class TestPlatformWillBeXcb:
    @pytest.mark.parametrize(
        ("env", "platform", "expected"),
        [
            ({}, "linux", True),
            ({"QT_QPA_PLATFORM": "xcb"}, "linux", True),
            ({"QT_QPA_PLATFORM": "offscreen"}, "linux", False),
            ({"QT_QPA_PLATFORM": "wayland;xcb"}, "linux", False),
            ({"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}, "linux", False),
            ({"XDG_SESSION_TYPE": "wayland"}, "linux", True),
            ({}, "darwin", False),
            ({}, "win32", False),
        ],
    )
    def test_cases(self, env, platform, expected):
        """Linux with no other platform asked for (and no Wayland session) means xcb."""
        assert platform_will_be_xcb(env, platform) is expected


def _broken_plugin(tmp_path: Path) -> Path:
    """A copy of the real xcb plugin whose bundled Qt libraries ($ORIGIN/../../lib) are absent."""
    plugin = xcb_plugin()
    if not sys.platform.startswith("linux") or plugin is None or shutil.which("ldd") is None:
        pytest.skip("needs Linux, ldd and PySide6's xcb plugin")
    copy = tmp_path / "platforms" / "libqxcb.so"
    copy.parent.mkdir()
    shutil.copy(plugin, copy)
    return copy


def test_missing_libraries_of_a_real_plugin(tmp_path):
    """ldd on a plugin that cannot load names the library it lacks."""
    assert "libQt6XcbQpa.so.6" in missing_libraries(_broken_plugin(tmp_path))


def test_viewer_explains_instead_of_aborting(tmp_path):
    """Missing xcb libraries: the viewer prints what to install and exits 1 (no Qt abort)."""
    broken = _broken_plugin(tmp_path)
    code = (
        "import sys; from pathlib import Path; import viewer.platform.xcb_check as pc; "
        f"pc.xcb_plugin = lambda: Path({str(broken)!r}); "
        "from viewer.app import main; sys.exit(main([]))"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="xcb", DISPLAY=":0")
    env.update(PNEUMOVIEW_CONFIG_DIR=str(tmp_path / "c"), PNEUMOVIEW_CACHE_DIR=str(tmp_path / "k"))
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1, proc.stderr
    assert "missing system libraries libQt6XcbQpa.so.6" in proc.stderr
    assert APT_LINE in proc.stderr
    assert "qt.qpa" not in proc.stderr  # Qt never started


def test_no_display_is_explained(tmp_path):
    """xcb without DISPLAY (e.g. over ssh): one clear message and exit 1, not a Qt abort."""
    if xcb_plugin() is None or missing_libraries(xcb_plugin()):
        pytest.skip("needs a loadable xcb plugin")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(QT_QPA_PLATFORM="xcb", PNEUMOVIEW_CONFIG_DIR=str(tmp_path / "c"))
    proc = subprocess.run(
        [sys.executable, "main.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1, proc.stderr
    assert "DISPLAY is not set" in proc.stderr
