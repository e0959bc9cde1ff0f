"""Architecture and packaging guarantees that a refactor could silently break."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest
from pydicom.pixels import decoders

import detector

CLAIMED_SYNTAXES = [
    "JPEGBaseline8BitDecoder",
    "JPEGExtended12BitDecoder",
    "JPEGLosslessDecoder",
    "JPEGLosslessSV1Decoder",
    "JPEGLSLosslessDecoder",
    "JPEGLSNearLosslessDecoder",
    "JPEG2000LosslessDecoder",
    "JPEG2000Decoder",
    "HTJ2KLosslessDecoder",
    "HTJ2KLosslessRPCLDecoder",
    "HTJ2KDecoder",
    "RLELosslessDecoder",
]


@pytest.mark.parametrize("name", CLAIMED_SYNTAXES)
def test_decoder_is_installed(name: str) -> None:
    """Every compressed transfer syntax the README claims has a working decoder plugin."""
    decoder = getattr(decoders, name)
    assert decoder.is_available, f"{decoder.UID.name}: missing {decoder.missing_dependencies}"


def all_modules(package) -> list[str]:
    """Every module of ``package``, subpackages included (walk_packages needs the full prefix
    to import a subpackage and list its modules)."""
    prefix = package.__name__ + "."
    return [
        m.name
        for m in pkgutil.walk_packages(package.__path__, prefix=prefix)
        if not m.name.rsplit(".", 1)[-1].startswith("_")
    ]


def imported_after(modules: list[str], roots: tuple[str, ...]) -> list[str]:
    """Modules under ``roots`` loaded by importing ``modules`` in a fresh interpreter."""
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {roots!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


def test_module_walk_reaches_subpackages() -> None:
    """The walk below lists the command modules, not only the top-level ones."""
    modules = all_modules(detector)
    assert {
        "detector.commands.detect",
        "detector.commands.train",
        "detector.imaging.render",
    } <= set(modules)


def test_detector_never_imports_qt_or_viewer() -> None:
    """Importing every detector module loads no Qt, pyqtgraph, superqt or viewer module."""
    roots = ("PySide6", "shiboken6", "pyqtgraph", "superqt", "viewer")
    bad = imported_after(all_modules(detector), roots)
    assert bad == [], f"detector imported: {bad}"


def test_viewer_never_imports_torch_at_module_level() -> None:
    """Importing every viewer module loads no torch or torchvision (they load on first use)."""
    import viewer

    modules = all_modules(viewer)
    assert "viewer.main_window" in modules
    bad = imported_after(modules, ("torch", "torchvision"))
    assert bad == [], f"viewer imported: {bad[:5]}"
