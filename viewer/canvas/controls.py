"""Small controls: window preset picker with W/L readout, and the frame slider with cine."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from viewer.canvas.presets import PRESET_NAMES

#: Cine speed for multi-frame images (frames per second).
CINE_FPS = 10


class WindowControl(QtWidgets.QWidget):
    """Preset picker (keys 1-6) and the current window/level readout."""

    preset_chosen = QtCore.Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = QtWidgets.QComboBox()
        self.combo.setObjectName("window_preset")
        self.combo.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        for i, name in enumerate(PRESET_NAMES):
            self.combo.addItem(f"{i + 1}  {name}", name)
        self.combo.addItem("Custom", "Custom")
        self.combo.activated.connect(self._on_combo_activated)
        self.readout = QtWidgets.QLabel("W - L -")
        self.readout.setObjectName("window_readout")
        self.readout.setMinimumWidth(130)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(QtWidgets.QLabel("Window"))
        layout.addWidget(self.combo)
        layout.addWidget(self.readout)

    def show_window(self, preset: str, text: str) -> None:
        index = self.combo.findData(preset)
        self.combo.setCurrentIndex(index if index >= 0 else self.combo.count() - 1)
        self.readout.setText(text)

    def _on_combo_activated(self, index: int) -> None:
        name = str(self.combo.itemData(index))
        if name != "Custom":
            self.preset_chosen.emit(name)


class FrameControl(QtWidgets.QWidget):
    """Frame slider with a play/pause button for multi-frame images (hidden otherwise)."""

    frame_requested = QtCore.Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.play_button = QtWidgets.QToolButton()
        self.play_button.setText("\u25b6")
        self.play_button.setToolTip("Play / pause cine")
        self.play_button.setCheckable(True)
        self.play_button.toggled.connect(self._on_play_toggled)
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setObjectName("frame_slider")
        self.slider.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.slider.valueChanged.connect(self._on_slider_value_changed)
        self.label = QtWidgets.QLabel("")
        self.label.setMinimumWidth(70)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(self.play_button)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.label)
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(int(1000 / CINE_FPS))
        self._timer.timeout.connect(self._on_timer_timeout)
        self._updating = False
        self.set_frames(1)

    def set_frames(self, n_frames: int) -> None:
        self.play_button.setChecked(False)
        self._updating = True
        self.slider.setRange(0, max(n_frames - 1, 0))
        self.slider.setValue(0)
        self._updating = False
        self.label.setText(f"1 / {n_frames}")
        self.setVisible(n_frames > 1)

    def set_frame(self, frame: int) -> None:
        self._updating = True
        self.slider.setValue(frame)
        self._updating = False
        self.label.setText(f"{frame + 1} / {self.slider.maximum() + 1}")

    def stop(self) -> None:
        self.play_button.setChecked(False)

    def _on_slider_value_changed(self, value: int) -> None:
        self.label.setText(f"{value + 1} / {self.slider.maximum() + 1}")
        if not self._updating:
            self.frame_requested.emit(value)

    def _on_play_toggled(self, playing: bool) -> None:
        self.play_button.setText("\u23f8" if playing else "\u25b6")
        if playing:
            self._timer.start()
        else:
            self._timer.stop()

    def _on_timer_timeout(self) -> None:
        n = self.slider.maximum() + 1
        if n <= 1:
            self.stop()
            return
        self.frame_requested.emit((self.slider.value() + 1) % n)
