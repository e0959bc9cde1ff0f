"""The Improve part of the Detection dock: progress, ETA, Cancel, and the session's versions.

:class:`ImproveUI` owns Detection → Improve model… (Ctrl+I): it asks for the epochs, starts an
:class:`~viewer.detection.improve_job.ImproveJob` for the session and the loaded model, shows its
progress in the dock, and on completion shows the current and new model's holdout numbers side
by side, offering to switch to the new version only when it is better. The versions of
``<session>.models/`` are listed in the dock; choosing one and Use loads it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

from PySide6 import QtCore, QtWidgets

from detector.improve.versions import list_versions, next_version_path
from viewer.detection.improve_job import ImproveJob

_NAMES = (("rsna_map", "RSNA metric"), ("map50", "mAP@0.5"), ("sensitivity", "Sensitivity"),
          ("specificity", "Specificity"))  # fmt: skip


_VERSIONS_TIP = "Model versions improved in this session (<session>.models/)"


def comparison_html(before: dict[str, Any], after: dict[str, Any]) -> str:
    """The holdout numbers of both models as a two-column table."""

    def cell(value: Any) -> str:
        ok = isinstance(value, int | float) and math.isfinite(value)
        return f"{value:.4f}" if ok else "n/a"

    rows = "".join(
        f"<tr><td>{label}</td><td align='right'>{cell(before.get(k))}</td>"
        f"<td align='right'>{cell(after.get(k))}</td></tr>"
        for k, label in _NAMES
    )
    return f"<table cellspacing='6'><tr><th></th><th>current</th><th>new</th></tr>{rows}</table>"


class ImprovePanel(QtWidgets.QGroupBox):
    """Progress, ETA and Cancel of the running job; the versions beside the session."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Improve model", parent)
        self.setObjectName("improve_panel")
        layout = QtWidgets.QVBoxLayout(self)
        self.status = QtWidgets.QLabel("Not running (Detection \u2192 Improve model\u2026, Ctrl+I)")
        self.status.setObjectName("improve_status")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        row = QtWidgets.QHBoxLayout()
        self.bar = QtWidgets.QProgressBar()
        self.bar.setObjectName("improve_progress")
        self.bar.setRange(0, 1000)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setObjectName("improve_cancel")
        self.cancel_button.setEnabled(False)
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)
        vrow = QtWidgets.QHBoxLayout()
        self.versions = QtWidgets.QComboBox()
        self.versions.setObjectName("model_versions")
        self.versions.setToolTip(_VERSIONS_TIP)
        self.versions.currentTextChanged.connect(
            lambda text: self.versions.setToolTip(text or _VERSIONS_TIP)
        )
        self.use_button = QtWidgets.QPushButton("Use")
        self.use_button.setObjectName("use_version")
        vrow.addWidget(self.versions, 1)
        vrow.addWidget(self.use_button)
        layout.addLayout(vrow)

    def show_event(self, event: dict[str, Any]) -> None:
        fraction = float(event.get("fraction") or 0.0)
        self.bar.setValue(int(1000 * min(max(fraction, 0.0), 1.0)))
        eta = event.get("eta_s")
        text = str(event.get("message", ""))
        if isinstance(eta, int | float) and math.isfinite(eta):
            text += f" \u2014 about {int(eta // 60)} min {int(eta % 60)} s left"
        self.status.setText(text)


class ImproveUI(QtCore.QObject):
    """Detection → Improve model…: the job, the dock panel, the result and the versions.

    Parameters
    ----------
    session_path, model_path : callable
        The open session file and the loaded checkpoint ("" when none).
    load_model : callable
        Switches the window to a checkpoint.
    parent : QWidget
        Owner of the dialogs.
    """

    message = QtCore.Signal(str, int)

    def __init__(
        self,
        session_path: Callable[[], str],
        model_path: Callable[[], str],
        load_model: Callable[[str], None],
        parent: QtWidgets.QWidget,
    ) -> None:
        super().__init__(parent)
        self.parent_widget = parent
        self.session_path = session_path
        self.model_path = model_path
        self.load_model = load_model
        self.panel = ImprovePanel()
        self.job: ImproveJob | None = None
        self.last_result: dict[str, Any] | None = None
        self.epochs = 5
        self.ask = True  # tests set False: no epochs dialog, no result dialog
        self.panel.cancel_button.clicked.connect(self.cancel)
        self.panel.use_button.clicked.connect(self.use_selected)

    def start(self) -> None:
        """Start a job for the open session and the loaded model (one at a time)."""
        if self.job is not None and self.job.running:
            self.message.emit("Improve is already running", 5000)
            return
        session, model = self.session_path(), self.model_path()
        if not session or not os.path.isfile(session):
            self._tell("Improve model needs a saved review session (File \u2192 Open session).")
            return
        if not model:
            self._tell("Improve model needs a loaded model (Detection \u2192 Load model\u2026).")
            return
        if self.ask:
            epochs, ok = QtWidgets.QInputDialog.getInt(
                self.parent_widget, "Improve model", "Fine-tuning epochs:", self.epochs, 1, 200
            )
            if not ok:
                return
            self.epochs = epochs
        out = os.fspath(next_version_path(session, model))
        self.last_result = None
        self.job = ImproveJob(session, model, out, self.epochs, self)
        self.job.progress.connect(self.panel.show_event)
        self.job.done.connect(self._on_done)
        self.job.failed.connect(self._on_failed)
        self.panel.cancel_button.setEnabled(True)
        self.panel.bar.setValue(0)
        self.panel.status.setText(
            f"Starting: {os.path.basename(out)} from {os.path.basename(model)}"
        )

    def cancel(self) -> None:
        if self.job is not None and self.job.running:
            self.job.cancel()
            self.panel.status.setText("Cancelling\u2026")

    def refresh_versions(self) -> None:
        """List ``<session>.models/`` in the dock."""
        self.panel.versions.clear()
        session = self.session_path()
        for version in list_versions(session) if session else []:
            summary = version.summary()
            self.panel.versions.addItem(summary, os.fspath(version.path))
            # The dock is narrow: the line is cut after the name; its tooltip shows it whole.
            index = self.panel.versions.count() - 1
            self.panel.versions.setItemData(index, summary, QtCore.Qt.ItemDataRole.ToolTipRole)

    def use_selected(self) -> None:
        path = self.panel.versions.currentData()
        if path:
            self.load_model(str(path))

    def _on_done(self, result: dict[str, Any]) -> None:
        self.last_result = result
        self.panel.cancel_button.setEnabled(False)
        self.panel.bar.setValue(1000)
        better = bool(result.get("better"))
        name = os.path.basename(str(result.get("checkpoint", "")))
        verdict = "better" if better else "not better"
        self.panel.status.setText(f"Done: {name} is {verdict} on the holdout")
        self.refresh_versions()
        self.message.emit(f"Improve model: {name} is {verdict}", 10_000)
        if not self.ask:
            return
        box = QtWidgets.QMessageBox(self.parent_widget)
        box.setWindowTitle("Improve model")
        box.setTextFormat(QtCore.Qt.TextFormat.RichText)
        box.setText(
            f"<b>{name}</b> is {verdict} than the current model on the held-out images:"
            + comparison_html(result.get("before") or {}, result.get("after") or {})
        )
        use = None
        if better:
            use = box.addButton("Use the new model", QtWidgets.QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QtWidgets.QMessageBox.StandardButton.Close)
        box.exec()
        if use is not None and box.clickedButton() is use:
            self.load_model(str(result["checkpoint"]))

    def _on_failed(self, text: str) -> None:
        self.panel.cancel_button.setEnabled(False)
        self.panel.status.setText(f"Stopped: {text}")
        self.message.emit(f"Improve model: {text}", 10_000)
