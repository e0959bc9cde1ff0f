"""The server choice shared by the PACS dialogs: a name from the servers file or a URL, and the
connect timeout."""

from __future__ import annotations

from PySide6 import QtWidgets

from detector.errors import PneumoViewError
from detector.pacs.servers import (
    DEFAULT_CONNECT_TIMEOUT,
    Server,
    load_servers,
    resolve_server,
    servers_file,
)


class ServerPicker(QtWidgets.QWidget):
    """An editable list of the servers in ``pacs_servers.json`` (type a URL for another one)
    and the timeout in seconds.

    A servers file that cannot be read is one line under the list; a URL still works.
    """

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = QtWidgets.QComboBox()
        self.combo.setObjectName("pacs_server")
        self.combo.setEditable(True)
        self.combo.setInsertPolicy(QtWidgets.QComboBox.InsertPolicy.NoInsert)
        self.combo.setMinimumContentsLength(36)
        line = self.combo.lineEdit()
        if line is not None:
            line.setPlaceholderText("server name, https://host/dicom-web or dimse://AET@host:port")
        self.timeout = QtWidgets.QDoubleSpinBox()
        self.timeout.setObjectName("pacs_timeout")
        self.timeout.setRange(0.5, 600.0)
        self.timeout.setDecimals(1)
        self.timeout.setSuffix(" s")
        self.timeout.setValue(DEFAULT_CONNECT_TIMEOUT)
        self.timeout.setToolTip(
            "Connect timeout: a server that does not answer within it is one line"
        )
        self.note = QtWidgets.QLabel("")
        self.note.setObjectName("pacs_servers_note")
        self.note.setWordWrap(True)
        row = QtWidgets.QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.combo, 1)
        row.addWidget(QtWidgets.QLabel("Timeout"))
        row.addWidget(self.timeout)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.note)
        self.reload()

    def reload(self) -> None:
        """Read the servers file again (its errors are one line under the list)."""
        text = self.combo.currentText()
        self.combo.clear()
        try:
            servers = load_servers()
        except PneumoViewError as err:
            servers = []
            self.note.setText(str(err))
        else:
            self.note.setText("" if servers else f"No servers in {servers_file()}: type a URL")
        for server in servers:
            self.combo.addItem(server.name)
            self.combo.setItemData(self.combo.count() - 1, server.address, 3)  # tooltip role
        self.note.setVisible(bool(self.note.text()))
        if text:
            self.combo.setEditText(text)

    def set_text(self, text: str) -> None:
        """Choose a server by name or URL."""
        self.combo.setEditText(text)

    def server(self) -> Server:
        """The chosen server with the chosen connect timeout.

        Raises
        ------
        PneumoViewError
            No server chosen, an unknown name, a URL that is not a server, or a bad servers file.
        """
        from detector.pacs.errors import PacsError

        text = self.combo.currentText().strip()
        if not text:
            raise PacsError("PACS", "choose a server or type its URL")
        server = resolve_server(text)
        return server.with_timeout(self.timeout.value())
