"""The one error type for a file or folder that cannot be used: ``"<file name>: <reason>"``.

Every "this file cannot be used" failure of the core is a subclass of :class:`PneumoViewError`
(DICOM images, plain images, checkpoints, backbone weights, labels CSVs, image folders, output
paths, review sessions and exports). The command line and the viewer catch the base class at
their boundaries and show ``str(err)``, one line; code that words its own message uses
``err.path`` and ``err.reason``.
"""

from __future__ import annotations

import os
from pathlib import Path


class PneumoViewError(Exception):
    """A file or folder that cannot be used, and why.

    Parameters
    ----------
    path : str or os.PathLike
        The file or folder at fault.
    reason : str
        Why it cannot be used, in plain words, one line, without the file name.

    Attributes
    ----------
    path : str
        ``path`` as given (not resolved).
    reason : str
        ``reason`` as given.

    Notes
    -----
    ``str(err)`` is ``"<file name>: <reason>"``: the last component of ``path``, or the whole
    ``path`` when it has none (``"/"``, ``""``).
    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(os.fspath(path))
        self.reason = reason
        super().__init__(f"{display_name(self.path)}: {reason}")

    def __reduce__(self) -> tuple[type[PneumoViewError], tuple[str, str]]:
        # Rebuild from (path, reason), not from the formatted message, so that the error
        # survives pickling (worker processes) with its attributes.
        return type(self), (self.path, self.reason)


def display_name(path: str | os.PathLike[str]) -> str:
    """The name an error message shows for ``path``: its last component, else ``path`` itself."""
    text = str(os.fspath(path))
    return Path(text).name or text
