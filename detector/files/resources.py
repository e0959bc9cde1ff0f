"""Files shipped with PneumoView (models, icons), from a source checkout or a frozen build.

One helper for both: in a PyInstaller bundle the ``resources/`` folder sits under
``sys._MEIPASS``; from source it sits at the repository root, beside ``detector/``.
"""

from __future__ import annotations

import sys
from pathlib import Path


def resources_root() -> Path:
    """The ``resources/`` folder (``sys._MEIPASS/resources`` when frozen)."""
    base = getattr(sys, "_MEIPASS", None)
    root = Path(base) if base else Path(__file__).resolve().parents[2]
    return root / "resources"


def resource_path(*parts: str) -> Path:
    """A file under ``resources/``, e.g. ``resource_path("models", "real.pt")``."""
    return resources_root().joinpath(*parts)
