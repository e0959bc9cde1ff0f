"""Review → Send findings to PACS...: the reviewed images' findings, written and sent in a worker.

The findings of every image marked reviewed are written into a temporary folder with the
writer of :data:`FINDINGS_FORMAT` (a DICOM SR per image, TID 1500 with its boxes, their source
and the reader), then sent with :func:`detector.pacs.send.send_files`
(STOW-RS or C-STORE) in a worker. The outcome is one status line: ``N sent, M failed``.

SR (TID 1500, :mod:`detector.sr.review_output`) is what is sent; a GSPS writer is registered
beside it in :data:`FINDINGS_WRITERS` for viewers that draw GSPS but not SR.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore, QtWidgets
from superqt.utils import WorkerBase

from detector.errors import PneumoViewError
from detector.gsps.export import export_gsps
from detector.pacs.send import SendReport
from detector.pacs.servers import Server
from detector.review.state import ReviewState
from viewer.loading.scan_controller import start_worker
from viewer.pacs.jobs import send_folder
from viewer.pacs.server_picker import ServerPicker

logger = logging.getLogger(__name__)


#: ``writer(state, out_dir, problems=list) -> list[Path]`` by format name.
def export_sr_files(state: ReviewState, out_dir: str, *, problems: list[str]) -> list[Path]:
    """One TID 1500 SR per reviewed image (:func:`detector.sr.review_output.export_review_sr`)."""
    from detector.sr.review_output import export_review_sr

    export_review_sr(state, out_dir, problems=problems)
    return sorted(Path(out_dir).glob("*.dcm"))


FINDINGS_WRITERS: dict[str, Callable[..., list[Path]]] = {
    "sr": export_sr_files,
    "gsps": export_gsps,
}
#: What Send findings writes: a DICOM SR (TID 1500), the standard way AI results reach a PACS.
FINDINGS_FORMAT = "sr"


class SendDialog(QtWidgets.QDialog):
    """Asks which server the findings go to."""

    def __init__(self, count: int, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Send findings to PACS")
        self.setObjectName("pacs_send_dialog")
        self.picker = ServerPicker()
        word = "image" if count == 1 else "images"
        text = QtWidgets.QLabel(
            f"The findings of {count} reviewed {word} are sent as "
            f"{FINDINGS_FORMAT.upper()} (one file per image)."
        )
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        self.send_button = buttons.addButton(
            "&Send", QtWidgets.QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.send_button.setObjectName("pacs_send")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(self.picker)
        layout.addWidget(buttons)


class SendFindings(QtCore.QObject):
    """Writes the reviewed findings and sends them, one send at a time.

    Parameters
    ----------
    review : callable
        Returns the open :class:`ReviewState` (it changes when another session is opened).
    message : callable
        ``(text, msecs)``: a status-bar line.
    parent : QWidget
        Owner of the server dialog.

    Signals
    -------
    done(str)
        The one line saying how the send ended.
    running_changed(bool)
        A send started (True) or ended (False): the Cancel entry follows it.
    """

    done = QtCore.Signal(str)
    running_changed = QtCore.Signal(bool)

    def __init__(
        self,
        review: Callable[[], ReviewState],
        message: Callable[..., object],
        parent: QtWidgets.QWidget,
    ) -> None:
        super().__init__(parent)
        self.review = review
        self.message = message
        self._parent = parent
        self._worker: WorkerBase | None = None
        self._folder = ""
        self._outcome = ""
        self._left_out = 0
        self._total = 0
        self._cancel = threading.Event()
        self.dialog: SendDialog | None = None

    @property
    def running(self) -> bool:
        return self._worker is not None

    def reviewed_count(self) -> int:
        from detector.review.records import DONE_STATUSES

        return sum(1 for i in self.review().images.values() if i.status in DONE_STATUSES)

    def start(self) -> None:
        """Ask for the server (a dialog), then send."""
        if self.running:
            self._tell("Findings are already being sent")
            return
        count = self.reviewed_count()
        if not count:
            self._tell("No image is marked reviewed: nothing to send")
            return
        self.dialog = SendDialog(count, self._parent)
        self.dialog.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog.accepted.connect(lambda d=self.dialog: self._on_accepted(d))
        self.dialog.destroyed.connect(lambda: setattr(self, "dialog", None))
        self.dialog.open()

    def _on_accepted(self, dialog: SendDialog) -> None:
        try:
            server = dialog.picker.server()
        except PneumoViewError as exc:
            self._tell(f"Nothing sent: {exc}")
            return
        self.send(server)

    def send(self, server: Server) -> bool:
        """Write the reviewed findings to a temp folder and send them to ``server`` (worker)."""
        if self.running:
            return False
        folder = tempfile.mkdtemp(prefix="pneumoview-findings-")
        problems: list[str] = []
        try:
            written = FINDINGS_WRITERS[FINDINGS_FORMAT](self.review(), folder, problems=problems)
        except PneumoViewError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            self._tell(f"Nothing sent: {exc}")
            return False
        for line in problems:
            logger.warning("%s", line)
        if not written:
            shutil.rmtree(folder, ignore_errors=True)
            first = f" ({problems[0]})" if problems else ""
            self._tell(f"Nothing sent: no findings could be written{first}")
            return False
        self._folder = folder
        self._outcome = ""
        self._left_out = len(problems)
        self._total = len(written)
        self._cancel = threading.Event()
        self.message(f"Sending {len(written)} {FINDINGS_FORMAT.upper()} to {server.label}...", 0)
        self._worker = start_worker(
            send_folder,
            server,
            folder,
            self._cancel,
            connect={
                "returned": lambda report: self._on_returned(server.label, report),
                "errored": self._on_errored,
                "finished": self._on_finished,
            },
        )
        self.running_changed.emit(True)
        return True

    def cancel(self) -> None:
        """Stop the send between two files; what was sent stays in the PACS."""
        if self.running and not self._cancel.is_set():
            self._cancel.set()
            self.message("Cancelling the send of findings...", 0)

    def _on_returned(self, label: str, report: SendReport) -> None:
        for path, reason in report.failed:
            logger.warning("%s: %s", path.name, reason)
        text = f"Findings to {label}: {len(report.sent)} sent, {len(report.failed)} failed"
        if report.failed:
            text += f" (first: {report.failed[0][0].name}: {report.failed[0][1]})"
        if self._left_out:
            text += f"; {self._left_out} image(s) left out, see the log"
        if report.cancelled:
            left = self._total - len(report.sent) - len(report.failed)
            text += f" (cancelled: {left} not sent)"
        self._outcome = text

    def _on_errored(self, exc: Exception) -> None:
        if isinstance(exc, PneumoViewError):
            self._outcome = f"Findings not sent: {exc}"
        else:
            logger.debug("send failed", exc_info=exc)
            self._outcome = f"Findings not sent: {type(exc).__name__}: {exc}"

    def _on_finished(self) -> None:
        self._worker = None
        shutil.rmtree(self._folder, ignore_errors=True)
        self.running_changed.emit(False)
        self._tell(self._outcome or "Findings not sent")

    def shutdown(self) -> None:
        """Window closing: stop sending between two files."""
        self._cancel.set()

    def _tell(self, text: str) -> None:
        self.message(text, 15_000)
        self.done.emit(text)
