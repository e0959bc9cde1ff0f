"""The one-line hint under the image: the five keys of a review, until the reader closes it."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from viewer.platform.settings import AppSettings

#: (keys, what they do): the keys a newcomer needs to review an image.
REVIEW_HINT: tuple[tuple[str, str], ...] = (
    ("D", "detect"),
    ("Tab", "select a box"),
    ("Enter", "accept"),
    ("Delete", "reject"),
    ("Space", "reviewed + next"),
)


def hint_html() -> str:
    """The hint as rich text: bold keys, then what they do, separated by dots."""
    return " &nbsp;\u00b7&nbsp; ".join(f"<b>{key}</b> {text}" for key, text in REVIEW_HINT) + (
        " &nbsp;\u2014&nbsp; F1: every key"
    )


class KeyHintBar(QtWidgets.QFrame):
    """A dismissible bar; closing it sets ``prefs.show_hint`` to ``False`` (saved with the
    other preferences, so it does not come back).

    Parameters
    ----------
    prefs : AppSettings
        Whether the hint is shown.
    parent : QWidget, optional
    """

    def __init__(self, prefs: AppSettings, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.prefs = prefs
        self.setObjectName("key_hint")
        self.setStyleSheet(
            "#key_hint { background: #26323d; } #key_hint QLabel { color: #e8e8e8; }"
        )
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(8, 2, 2, 2)
        self.label = QtWidgets.QLabel(hint_html())
        self.label.setObjectName("key_hint_text")
        self.label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.label.setWordWrap(True)
        layout.addWidget(self.label, 1)
        self.close_button = QtWidgets.QToolButton()
        self.close_button.setObjectName("key_hint_close")
        self.close_button.setText("\u00d7")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip(
            "Hide this hint (Help \u2192 Keyboard shortcuts lists every key)"
        )
        self.close_button.clicked.connect(self.dismiss)
        layout.addWidget(self.close_button)
        if not prefs.show_hint:
            self.hide()  # (never show(): without a parent yet it would open as a window)

    def dismiss(self) -> None:
        """The reader closed the hint: hidden now and on later launches."""
        self.prefs.show_hint = False
        self.hide()
