"""File → PACS...: choose a server, search its studies, retrieve the selected ones into the cache.

The search and the retrieve run in workers: a dead or slow server is one line in the dialog
after the timeout, never a frozen window. Cancel drops a search that is still waiting and stops
a retrieve between two images. Closing the dialog hides it; a retrieve goes on (its progress is
in the dialog when it is shown again, its outcome also in the window's status bar).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from PySide6 import QtCore, QtWidgets
from superqt.utils import WorkerBase

from detector.errors import PneumoViewError
from detector.pacs.query import StudyResult
from viewer.loading.scan_controller import start_worker
from viewer.pacs.jobs import search_studies
from viewer.pacs.results_table import ResultsTable
from viewer.pacs.retrieval import OpenPaths, RetrieveJob
from viewer.pacs.search_form import SearchForm
from viewer.pacs.server_picker import ServerPicker

logger = logging.getLogger(__name__)


class PacsDialog(QtWidgets.QDialog):
    """Search a PACS and retrieve studies.

    Parameters
    ----------
    open_paths : callable
        ``open_paths(paths, recent=folders)``: the window's way of opening files.
    cache_root : str
        The per-user cache folder.
    show_message : callable
        ``(text, msecs)``: a line in the window's status bar.
    parent : QWidget
        Owner of the dialog.

    Signals
    -------
    searched(int)
        A search answered with this many studies.
    search_failed(str)
        The one line saying why a search gave nothing.
    """

    searched = QtCore.Signal(int)
    search_failed = QtCore.Signal(str)

    def __init__(
        self,
        open_paths: OpenPaths,
        cache_root: str,
        show_message: Callable[..., object],
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("PACS")
        self.setObjectName("pacs_dialog")
        self.show_message = show_message
        self.picker = ServerPicker()
        self.form = SearchForm()
        self.search_button = QtWidgets.QPushButton("&Search")
        self.search_button.setObjectName("pacs_search")
        self.search_button.setDefault(True)
        self.table = ResultsTable()
        self.status = QtWidgets.QLabel("Choose a server and search")
        self.status.setObjectName("pacs_status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setObjectName("pacs_progress")
        self.progress.setFormat("%v / %m images")
        self.progress.hide()
        self.retrieve_button = QtWidgets.QPushButton("&Retrieve")
        self.retrieve_button.setObjectName("pacs_retrieve")
        self.retrieve_button.setToolTip(
            "Retrieve the selected studies into the cache and open them"
        )
        self.retrieve_button.setEnabled(False)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setObjectName("pacs_cancel")
        self.cancel_button.setEnabled(False)
        close = QtWidgets.QPushButton("Close")
        close.setAutoDefault(False)
        for button in (self.retrieve_button, self.cancel_button):
            button.setAutoDefault(False)

        top = QtWidgets.QFormLayout()
        top.addRow("Server", self.picker)
        search_row = QtWidgets.QHBoxLayout()
        search_row.addWidget(self.form, 1)
        search_row.addWidget(self.search_button, 0, QtCore.Qt.AlignmentFlag.AlignBottom)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.progress, 1)
        buttons.addStretch(0)
        buttons.addWidget(self.retrieve_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(close)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(search_row)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self.resize(820, 560)

        self.job = RetrieveJob(open_paths, cache_root, self)
        self.job.progress.connect(self._on_progress)
        self.job.finished.connect(self._on_retrieve_finished)
        self._search_worker: WorkerBase | None = None
        self._search_id = 0
        self.search_button.clicked.connect(self.search)
        self.form.submitted.connect(self.search)
        self.retrieve_button.clicked.connect(self.retrieve_selected)
        self.table.activated_study.connect(self.retrieve_selected)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.cancel_button.clicked.connect(self.cancel)
        close.clicked.connect(self.close)

    # -- search -----------------------------------------------------------------------------

    @property
    def searching(self) -> bool:
        return self._search_worker is not None

    def search(self) -> None:
        """Search the chosen server with the form's filters (in a worker)."""
        try:
            server = self.picker.server()
            query = self.form.query()
        except (PneumoViewError, ValueError) as exc:
            self._say(str(exc))
            return
        # A search waits no longer than the timeout for each answer either (a slow server).
        server = replace(server, read_timeout=server.connect_timeout)
        self._search_id += 1
        self._say(f"Searching {server.label}...")
        self.cancel_button.setEnabled(True)
        self.search_button.setEnabled(False)
        ticket = self._search_id
        self._search_worker = start_worker(
            search_studies,
            server,
            query,
            connect={
                "returned": lambda results: self._on_found(ticket, server.label, results),
                "errored": lambda exc: self._on_search_error(ticket, exc),
                "finished": lambda: self._on_search_finished(ticket),
            },
        )

    def _on_found(self, ticket: int, label: str, results: list[StudyResult]) -> None:
        if ticket != self._search_id:
            return
        self.table.set_results(results)
        word = "study" if len(results) == 1 else "studies"
        self._say(f"{len(results)} {word} on {label}")
        self.searched.emit(len(results))

    def _on_search_error(self, ticket: int, exc: Exception) -> None:
        if ticket != self._search_id:
            return
        if isinstance(exc, PneumoViewError):
            text = f"Search failed: {exc}"
        else:
            logger.debug("search failed", exc_info=exc)
            text = f"Search failed: {type(exc).__name__}: {exc}"
        self._say(text)
        self.search_failed.emit(text)

    def _on_search_finished(self, ticket: int) -> None:
        if ticket != self._search_id:
            return  # cancelled, or the window closed
        self._search_worker = None
        self._update_buttons()

    # -- retrieve ---------------------------------------------------------------------------

    def retrieve_selected(self) -> None:
        """Retrieve the selected studies (in a worker); their images open as they arrive."""
        studies = self.table.selected_results()
        if not studies or self.job.running:
            return
        try:
            server = self.picker.server()
        except PneumoViewError as exc:
            self._say(str(exc))
            return
        word = "study" if len(studies) == 1 else "studies"
        self._say(f"Retrieving {len(studies)} {word} from {server.label}...")
        self.progress.setRange(0, 0)
        self.progress.show()
        self.job.start(server, [s.study_uid for s in studies])
        self._update_buttons()

    def _on_progress(self, done: int, total: int) -> None:
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(done)

    def _on_retrieve_finished(self, line: str) -> None:
        self.progress.hide()
        self._say(line)
        self.show_message(line, 10_000)
        self._update_buttons()

    # -- both -------------------------------------------------------------------------------

    def cancel(self) -> None:
        """Drop a search that is waiting; stop a retrieve between two images."""
        if self.searching:
            self._search_id += 1  # its answer, when it comes, is ignored
            self._search_worker = None
            self._say("Search cancelled")
        if self.job.running:
            self.job.cancel()
            self._say("Cancelling the retrieve: images already here stay open...")
        self._update_buttons()

    def shutdown(self) -> None:
        """Window closing: stop the retrieve and ignore a pending search."""
        self._search_id += 1
        self.job.shutdown()

    def _update_buttons(self) -> None:
        busy = self.searching or self.job.running
        self.cancel_button.setEnabled(busy)
        self.search_button.setEnabled(not self.searching)
        self.retrieve_button.setEnabled(
            not self.job.running and bool(self.table.selectionModel().selectedRows())
        )

    def _say(self, text: str) -> None:
        self.status.setText(text)
