"""Before Qt starts: can its X11 (xcb) platform plugin load here? (no Qt imported)

On Linux without the X11/xcb libraries that Qt's xcb plugin links against (libxcb-cursor0,
libxcb-icccm4, libxkbcommon-x11-0, ...), or without a display, creating the QApplication prints
a Qt message and aborts the process. :func:`display_problem` finds that out first, so the viewer
can say which libraries are missing and how to install them, and exit 1.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

#: One line that installs what Qt 6 needs on Debian/Ubuntu (README, "System packages").
APT_LINE = (
    "sudo apt-get install -y libegl1 libgl1 libfontconfig1 libdbus-1-3 libxkbcommon0 "
    "libxkbcommon-x11-0 libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 "
    "libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1"
)


def platform_will_be_xcb(
    env: Mapping[str, str] | None = None, platform: str = sys.platform
) -> bool:
    """Whether Qt will start its xcb plugin (Linux, no other platform asked for, not Wayland)."""
    env = os.environ if env is None else env
    if not platform.startswith("linux"):
        return False
    requested = env.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip().lower()
    if requested:
        return requested == "xcb"
    wayland = env.get("XDG_SESSION_TYPE", "") == "wayland" and bool(env.get("WAYLAND_DISPLAY"))
    return not wayland


def xcb_plugin() -> Path | None:
    """PySide6's ``libqxcb.so`` (None when PySide6 or the plugin is not where wheels put it)."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or spec.origin is None:
        return None
    plugin = Path(spec.origin).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def parse_ldd_missing(text: str) -> list[str]:
    """Library names that ``ldd`` output reports as ``=> not found`` (each once, in order)."""
    missing: list[str] = []
    for line in text.splitlines():
        name, sep, where = line.strip().partition("=>")
        name = name.strip()
        if sep and where.strip() == "not found" and name not in missing:
            missing.append(name)
    return missing


def missing_libraries(plugin: Path) -> list[str]:
    """Shared libraries ``plugin`` needs that the dynamic loader cannot find."""
    try:
        out = subprocess.run(
            ["ldd", str(plugin)], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        out = None
    if out:
        return parse_ldd_missing(out)
    try:  # no ldd: loading the plugin names the first library that is missing
        ctypes.CDLL(str(plugin))
    except OSError as exc:
        found = re.search(r"([\w.+-]+\.so[\w.]*): cannot open shared object file", str(exc))
        return [found.group(1) if found else str(exc)]
    return []


def install_hint() -> str:
    return (
        f"Install them (Debian/Ubuntu):\n  {APT_LINE}\n"
        "Other systems: see README.md, 'System packages'."
    )


def display_problem(env: Mapping[str, str] | None = None) -> str | None:
    """Why the xcb plugin cannot start (missing libraries, no display), or None."""
    env = os.environ if env is None else env
    if not platform_will_be_xcb(env):
        return None
    plugin = xcb_plugin()
    missing = missing_libraries(plugin) if plugin is not None else []
    if missing:
        return (
            "Qt's X11 (xcb) platform plugin cannot load: missing system libraries "
            f"{', '.join(missing)}.\n{install_hint()}"
        )
    if not env.get("DISPLAY"):
        return (
            "no X11 display to open the window on (DISPLAY is not set). Start PneumoView "
            "from a desktop session, or use QT_QPA_PLATFORM=offscreen with --screenshot."
        )
    return None
