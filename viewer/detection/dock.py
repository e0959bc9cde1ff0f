"""The Detection dock: which model, which device, run/cancel, progress and the score threshold.

A passive widget: it shows what :class:`viewer.detection.controller.DetectionController` tells
it and emits ``threshold_changed``; the run/load/cancel buttons are the window's actions.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets
from superqt import QLabeledDoubleSlider

from detector.model.choice import (
    DEMO_BANNER,
    cross_validation_text,
    is_demo_model,
    pretrained_text,
    setting_text,
    validation_images,
    validation_text,
)

__all__ = ["DEMO_BANNER", "DetectionDock", "is_demo_model", "model_summary"]


def model_summary(meta: Mapping[str, Any], path: str = "") -> list[tuple[str, str]]:
    """(label, value) rows describing a checkpoint, from its metadata only."""
    training = meta.get("training") if isinstance(meta.get("training"), Mapping) else {}
    rows = [("Model", os.path.basename(path) if path else "(in memory)")]
    rows.append(("Architecture", f"{meta.get('arch', '?')} / {meta.get('backbone', '?')}"))
    rows.append(("Input size", f"{meta.get('input_size', '?')} px"))
    card = meta.get("training_data")
    if isinstance(card, Mapping) and card.get("summary"):
        data = str(card["summary"])
    else:
        data = str(meta.get("description", "") or "")
    if training and not isinstance(card, Mapping):
        counts = []
        if training.get("train_images"):
            counts.append(f"{training['train_images']} training images")
        if training.get("val_images"):
            counts.append(f"{training['val_images']} validation")
        if counts:
            data = f"{data} ({', '.join(counts)})" if data else ", ".join(counts)
    rows.append(("Training data", data or "not recorded"))
    trunk = pretrained_text(meta)
    if trunk:
        rows.append(("Backbone weights", trunk.removeprefix("backbone weights: ")))
    cv = cross_validation_text(meta)
    if cv:
        rows.append(("Cross-validated", cv.removeprefix("cross-validated: ")))
    validation = validation_text(meta)
    n = validation_images(meta)
    if validation and n:
        validation = f"{validation} ({n} images)"
    rows.append(("Validation", validation or "not recorded"))
    rows.append(("Setting", setting_text(meta)))
    if meta.get("intended_use"):
        rows.append(("Use", str(meta["intended_use"])))
    lineage = meta.get("lineage")
    if isinstance(lineage, Mapping) and lineage.get("parent"):
        sha = str(lineage.get("parent_sha256", ""))[:12]
        session = os.path.basename(str(lineage.get("session", "")))
        verdict = {True: "better", False: "not better"}.get(lineage.get("better"), "?")
        rows.append(
            (
                "Lineage",
                f"improved from {os.path.basename(str(lineage['parent']))} (sha256 {sha}…) "
                f"on {session}; {verdict} on its holdout",
            )
        )
    return rows


class DetectionDock(QtWidgets.QWidget):
    """Model, device, run controls, progress and the confidence threshold.

    Signals
    -------
    threshold_changed(float)
        The reader moved the threshold slider.
    auto_detect_toggled(bool)
        "Detect automatically on open" was switched.
    """

    threshold_changed = QtCore.Signal(float)
    auto_detect_toggled = QtCore.Signal(bool)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("detection_dock_widget")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)

        self.demo_label = QtWidgets.QLabel(DEMO_BANNER)
        self.demo_label.setObjectName("demo_warning")
        self.demo_label.setWordWrap(True)
        self.demo_label.setStyleSheet(
            "QLabel { color: white; background: #b00020; font-weight: bold; padding: 4px; }"
        )
        self.demo_label.hide()
        layout.addWidget(self.demo_label)

        # The model card is one line (name, architecture) plus a Details toggle for the full
        # card, so Run all, progress, the threshold and the legend stay visible at 1366x768.
        self.model_label = QtWidgets.QLabel("No model loaded")
        self.model_label.setObjectName("model_info")
        self.model_label.setWordWrap(True)
        self.model_label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.model_label.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse
        )
        layout.addWidget(self.model_label)
        row = QtWidgets.QHBoxLayout()
        self.device_label = QtWidgets.QLabel("Device: -")
        self.device_label.setObjectName("device_label")
        row.addWidget(self.device_label, 1)
        self.details_button = QtWidgets.QToolButton()
        self.details_button.setObjectName("model_details_toggle")
        self.details_button.setText("Details")
        self.details_button.setCheckable(True)
        self.details_button.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.details_button.setArrowType(QtCore.Qt.ArrowType.RightArrow)
        self.details_button.setToolTip("Show the model card (training data, validation, use)")
        self.details_button.setEnabled(False)
        self.details_button.toggled.connect(self._on_details_toggled)
        row.addWidget(self.details_button)
        layout.addLayout(row)
        self.details_label = QtWidgets.QLabel("")
        self.details_label.setObjectName("model_card")
        self.details_label.setWordWrap(True)
        self.details_label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.details_label.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse
        )
        self.details_label.hide()
        layout.addWidget(self.details_label)

        buttons = QtWidgets.QGridLayout()
        self.load_button = QtWidgets.QToolButton()
        self.run_button = QtWidgets.QToolButton()
        self.run_all_button = QtWidgets.QToolButton()
        self.cancel_button = QtWidgets.QToolButton()
        for i, button in enumerate(
            (self.load_button, self.run_button, self.run_all_button, self.cancel_button)
        ):
            button.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setSizePolicy(
                QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Fixed
            )
            buttons.addWidget(button, i // 2, i % 2)
        layout.addLayout(buttons)

        self.progress = QtWidgets.QProgressBar()
        self.progress.setObjectName("detection_progress")
        self.progress.setTextVisible(True)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        layout.addWidget(self.progress)
        self.rate_label = QtWidgets.QLabel("")
        self.rate_label.setObjectName("detection_rate")
        self.rate_label.hide()  # shown while a run reports its speed
        layout.addWidget(self.rate_label)

        layout.addWidget(QtWidgets.QLabel("Confidence threshold"))
        self.slider = QLabeledDoubleSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setObjectName("threshold_slider")
        self.slider.setRange(0.0, 1.0)
        self.slider.setSingleStep(0.01)
        self.slider.setDecimals(2)
        self.slider.setValue(0.5)
        self.slider.valueChanged.connect(self._on_slider)
        layout.addWidget(self.slider)
        self.counts_label = QtWidgets.QLabel("")
        self.counts_label.setObjectName("prediction_counts")
        self.counts_label.setWordWrap(True)  # never clipped by a narrow dock
        layout.addWidget(self.counts_label)

        self.legend_label = QtWidgets.QLabel("")
        self.legend_label.setObjectName("box_legend")
        self.legend_label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.legend_label.setWordWrap(True)
        layout.addWidget(self.legend_label)

        self.auto_check = QtWidgets.QCheckBox("Detect automatically on open")
        self.auto_check.setObjectName("auto_detect")
        self.auto_check.toggled.connect(self.auto_detect_toggled)
        layout.addWidget(self.auto_check)
        layout.addStretch(1)

    def set_actions(
        self,
        load: QtGui.QAction,
        run: QtGui.QAction,
        run_all: QtGui.QAction,
        cancel: QtGui.QAction,
    ) -> None:
        """Bind the buttons to the window's actions (same text, shortcut and enabled state)."""
        for button, action in (
            (self.load_button, load),
            (self.run_button, run),
            (self.run_all_button, run_all),
            (self.cancel_button, cancel),
        ):
            button.setDefaultAction(action)

    def _on_details_toggled(self, shown: bool) -> None:
        self.details_label.setVisible(shown)
        self.details_button.setArrowType(
            QtCore.Qt.ArrowType.DownArrow if shown else QtCore.Qt.ArrowType.RightArrow
        )

    def _set_card(self, rows: list[tuple[str, str]] | None) -> None:
        """The full model card behind Details (``None``: no card)."""
        if rows is None:
            self.details_label.setText("")
            self.details_button.setChecked(False)
            self.details_button.setEnabled(False)
            return
        self.details_label.setText(
            "<table>"
            + "".join(
                f"<tr><td><b>{html.escape(k)}</b>&nbsp;</td><td>{html.escape(v)}</td></tr>"
                for k, v in rows
            )
            + "</table>"
        )
        self.details_button.setEnabled(True)

    def _on_slider(self, value: float) -> None:
        self.threshold_changed.emit(float(value))

    # -- what the controller tells it --------------------------------------------------------

    @property
    def threshold(self) -> float:
        return float(self.slider.value())

    def set_threshold(self, value: float) -> None:
        """Move the slider without emitting ``threshold_changed`` twice."""
        self.slider.setValue(float(value))

    def show_model(self, meta: Mapping[str, Any] | None, path: str = "") -> None:
        """One line (file name, architecture); the whole card behind Details."""
        if meta is None:
            self.model_label.setText(f"No model loaded{': ' + html.escape(path) if path else ''}")
            self.demo_label.hide()
            self._set_card(None)
            return
        rows = model_summary(meta, path)
        info = dict(rows)
        self.model_label.setText(
            f"<b>{html.escape(info['Model'])}</b> \u00b7 {html.escape(info['Architecture'])}"
        )
        self.model_label.setToolTip(path)
        self._set_card(rows)
        self.demo_label.setVisible(is_demo_model(meta))

    def show_loading(self, name: str) -> None:
        """A checkpoint is loading: say so at once (D / Shift+D wait for it, queued)."""
        self.model_label.setText(f"<b>Loading model {html.escape(name)}\u2026</b>")
        self.model_label.setToolTip("")
        self.demo_label.hide()
        self._set_card(None)
        self.progress.setRange(0, 0)  # busy until the model is ready
        self.progress.setFormat("Loading model\u2026")
        self.rate_label.setText("")
        self.rate_label.hide()

    def show_model_error(self, text: str) -> None:
        self.model_label.setText(f"<span style='color:#ff6b6b'>{html.escape(text)}</span>")
        self.demo_label.hide()

    def show_device(self, text: str) -> None:
        self.device_label.setText(f"Device: {text}")

    def show_progress(
        self, done: int, total: int, rate: float | None, *, loading: bool = False
    ) -> None:
        """``done`` of ``total`` images; while ``loading`` the model, a busy bar says so."""
        if loading:
            self.progress.setRange(0, 0)
            self.progress.setFormat(f"Loading model\u2026 ({total} queued)" if total else "")
            self.rate_label.setText("")
            self.rate_label.hide()
            return
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(min(done, max(total, 1)))
        self.progress.setFormat(f"{done} / {total}" if total else "idle")
        self.rate_label.setText(f"{rate:.1f} images/s" if rate else "")
        self.rate_label.setVisible(bool(rate))

    def set_legend(self, html_text: str) -> None:
        self.legend_label.setText(html_text)

    def show_counts(self, shown: int, total: int) -> None:
        self.counts_label.setText(
            f"{shown} of {total} prediction{'s' if total != 1 else ''} shown" if total else ""
        )
