"""Every key of the window does one thing: no two actions share a shortcut.

Qt treats a shortcut held by two enabled actions as ambiguous and runs neither, so a key that
two features both claim silently stops working in the window.
"""

from __future__ import annotations

from collections import defaultdict

from PySide6 import QtCore, QtGui

#: Shortcuts that fire anywhere in the window; a widget-scoped one (e.g. Copy in a table) is local.
_WINDOW_WIDE = (
    QtCore.Qt.ShortcutContext.WindowShortcut,
    QtCore.Qt.ShortcutContext.ApplicationShortcut,
)


def test_no_two_actions_share_a_shortcut(make_main_window) -> None:
    window = make_main_window()
    owners: dict[str, list[str]] = defaultdict(list)
    for action in window.findChildren(QtGui.QAction):
        if action.shortcutContext() not in _WINDOW_WIDE:
            continue
        for seq in action.shortcuts():
            text = seq.toString(QtGui.QKeySequence.SequenceFormat.PortableText)
            if text:
                owners[text].append(action.text().replace("&", ""))
    shared = {key: names for key, names in owners.items() if len(names) > 1}
    assert not shared, f"shortcuts claimed by several actions: {shared}"
    # The keys the review contract and the new layers rely on are all there.
    for key in ("D", "Space", "S", "Shift+S", "Shift+F", "Shift+I", "Shift+O", "Ctrl+I", "Shift+U"):
        assert key in owners, key
