"""The one error of the PACS code: ``"<server>: <reason>"``, the server shown without credentials."""

from __future__ import annotations

from detector.errors import PneumoViewError


class PacsError(PneumoViewError):
    """A PACS server that cannot be used, and why (one line).

    ``path`` is the server's redacted label (its name in the servers file, or its URL without
    user name, password or token); the reason never contains a credential.
    """

    def __init__(self, server: str, reason: str) -> None:
        super().__init__(server, reason)

    def __str__(self) -> str:
        # A URL is not a file path: show it whole, not its last component.
        return f"{self.path}: {self.reason}"
