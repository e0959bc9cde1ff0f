"""Entry point: ``pneumoview [PATH...]`` opens the viewer; ``pneumoview COMMAND ...`` runs the CLI.

Qt is imported only when the viewer is opened, so command-line use stays headless and fast.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    from detector.cli import command_names
    from detector.cli import main as cli_main

    first = next((a for a in args if not a.startswith("-")), None)
    if first in command_names() or (args and args[0] in ("-h", "--help") and not first):
        return cli_main(args)
    return run(args)


def run(args: Sequence[str]) -> int:
    """Open the main window (minimal until the viewer issue lands)."""
    from PySide6 import QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([sys.argv[0]])
    assert isinstance(app, QtWidgets.QApplication)
    win = QtWidgets.QMainWindow()
    win.setWindowTitle("PneumoView")
    label = QtWidgets.QLabel("PneumoView\n\n" + "\n".join(args))
    win.setCentralWidget(label)
    win.resize(800, 600)
    win.show()
    return int(app.exec())
