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


def test_detector_never_imports_qt_or_viewer() -> None:
    """Importing every detector module loads no Qt, pyqtgraph, superqt or viewer module."""
    modules = [
        f"detector.{m.name}"
        for m in pkgutil.walk_packages(detector.__path__, prefix="")
        if not m.name.startswith("_")
    ]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'shiboken6', 'pyqtgraph', 'superqt', 'viewer'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"detector imported: {out.stdout.strip()}"
