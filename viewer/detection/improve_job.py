"""Detection → Improve model…: ``pneumoview improve`` in a separate process (the window stays live).

:class:`ImproveJob` starts the command with ``--progress-json`` through :class:`QtCore.QProcess`
and turns its JSON lines into signals; Cancel creates the job's cancel file (the process stops at
its next step and writes nothing). The job belongs to the window, not to a dialog: closing a
dialog never stops it, and its result is reported when it ends.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Any

from PySide6 import QtCore


def improve_command(session: str, model: str, out: str, epochs: int) -> list[str]:
    """The program and arguments that run ``pneumoview improve`` (source tree or frozen app)."""
    args = ["improve", session, "--model", model, "--out", out, "--epochs", str(epochs)]
    args += ["--progress-json"]
    if getattr(sys, "frozen", False):
        return [sys.executable, *args]
    return [sys.executable, "-m", "detector.cli", *args]


class ImproveJob(QtCore.QObject):
    """One running Improve process.

    Signals
    -------
    progress(dict)
        A progress event (``stage``, ``message``, ``fraction``, ``eta_s``...).
    done(dict)
        The ``done`` event: ``checkpoint``, ``better``, ``before``, ``after``.
    failed(str)
        One line: why it stopped (an error, a cancel, a crash).
    """

    progress = QtCore.Signal(dict)
    done = QtCore.Signal(dict)
    failed = QtCore.Signal(str)

    def __init__(
        self, session: str, model: str, out: str, epochs: int, parent: QtCore.QObject | None
    ) -> None:
        super().__init__(parent)
        self.out = out
        self.cancel_file = os.path.join(
            tempfile.gettempdir(), f"pneumoview-improve-{os.getpid()}-{id(self)}.cancel"
        )
        self._buffer = b""
        self._result: dict[str, Any] | None = None
        self._error = ""
        self.process = QtCore.QProcess(self)
        self.process.setProcessChannelMode(QtCore.QProcess.ProcessChannelMode.SeparateChannels)
        self.process.readyReadStandardOutput.connect(self._on_stdout)
        self.process.finished.connect(self._on_finished)
        self.process.errorOccurred.connect(self._on_error)
        cmd = improve_command(session, model, out, epochs) + ["--cancel-file", self.cancel_file]
        env = QtCore.QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        self.process.setProcessEnvironment(env)
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        self.process.setWorkingDirectory(root)
        self.process.start(cmd[0], cmd[1:])

    @property
    def running(self) -> bool:
        return self.process.state() != QtCore.QProcess.ProcessState.NotRunning

    def cancel(self) -> None:
        """Ask the process to stop at its next step (it writes nothing)."""
        with open(self.cancel_file, "w", encoding="utf-8"):
            pass

    def _on_stdout(self) -> None:
        self._buffer += bytes(self.process.readAllStandardOutput().data())
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            try:
                event = json.loads(raw.decode("utf-8", "replace"))
            except json.JSONDecodeError:
                continue  # not a protocol line (a library's print)
            if not isinstance(event, dict):
                continue
            kind = event.get("event")
            if kind == "progress":
                self.progress.emit(event)
            elif kind == "done":
                self._result = event
            elif kind == "error":
                self._error = str(event.get("message", ""))[:500]
            elif kind == "cancelled":
                self._error = "cancelled; nothing was written"

    def _on_finished(self, _code: int, _status: QtCore.QProcess.ExitStatus) -> None:
        self._on_stdout()
        if os.path.exists(self.cancel_file):
            os.remove(self.cancel_file)
        if self._result is not None:
            self.done.emit(self._result)
        else:
            tail = bytes(self.process.readAllStandardError().data()).decode("utf-8", "replace")
            last = [ln for ln in tail.splitlines() if ln.strip()][-1:] or ["the process stopped"]
            self.failed.emit(self._error or last[0][:500])

    def _on_error(self, error: QtCore.QProcess.ProcessError) -> None:
        if error == QtCore.QProcess.ProcessError.FailedToStart:
            self.failed.emit(f"cannot start the Improve process ({self.process.errorString()})")
