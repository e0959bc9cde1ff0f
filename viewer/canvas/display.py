"""The image on the canvas: pixels, window/level, overlays, the view and tool actions.

:class:`ImageDisplay` draws what :class:`viewer.state.ViewerState` holds on the
:class:`viewer.canvas.image_canvas.ImageCanvas` (a new image, another frame, new display
settings), keeps the corner overlays and the window/level readout current, turns canvas drags
into window/level changes, and owns the Image and Tools actions (presets, invert,
equalization, zoom, rotation, flips, overlays, tools) with their menus and toolbar buttons.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from detector.files.scan import Instance
from detector.imaging.decode import DicomImage
from detector.imaging.dicom_info import pixel_spacing
from detector.imaging.lut import Window
from detector.imaging.overlays import Overlays, read_overlays
from detector.imaging.plain import NO_SPACING
from viewer.canvas.controls import WindowControl
from viewer.canvas.image_canvas import ImageCanvas
from viewer.canvas.overlay_layer import OverlayLayer
from viewer.canvas.overlay_text import corner_texts, cursor_text
from viewer.canvas.presets import PRESET_NAMES, drag_window, window_text
from viewer.platform.settings import AppSettings
from viewer.state import ViewerState

#: Status-bar help of each tool.
TOOL_HELP = {
    "pan": "Pan: left-drag moves the image",
    "window": "Window/level: left- or right-drag (horizontal = width, vertical = level)",
    "measure": "Measure: left-drag draws a ruler (Shift+Del removes rulers; Del changes no box here)",
}


class ImageDisplay(QtCore.QObject):
    """Draws the state's image on the canvas and owns the display actions.

    Parameters
    ----------
    state : ViewerState
        What is shown and how.
    canvas : ImageCanvas
        Where it is drawn.
    window_control : WindowControl
        The toolbar's preset chooser and window readout.
    prefs : AppSettings
        Remembers whether the corner overlays are shown.
    foreground : threading.Event
        Cleared once the decoded image is painted (thumbnails may go on).
    show_message : callable
        ``(text[, msecs])``: one line for the status bar.

    Signals
    -------
    frame_shown()
        The canvas shows another image or another frame (its boxes follow).
    painted(object)
        An image (Instance) has been painted on screen for the first time.
    overlays_read(object)
        The overlay planes (:class:`detector.imaging.overlays.Overlays`) of a new image on screen.
    """

    frame_shown = QtCore.Signal()
    painted = QtCore.Signal(object)
    overlays_read = QtCore.Signal(object)

    def __init__(
        self,
        state: ViewerState,
        canvas: ImageCanvas,
        window_control: WindowControl,
        prefs: AppSettings,
        foreground: threading.Event,
        show_message: Callable[..., object],
        parent: QtCore.QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.canvas = canvas
        self.window_control = window_control
        self.prefs = prefs
        self.foreground = foreground
        self.show_message = show_message
        self._shown_path: str | None = None
        self._painted_instance: Instance | None = None
        self._drag_start: Window | None = None
        self._cursor: tuple[int, int] | None = None
        self.overlay_layer = OverlayLayer(canvas.image_item)
        state.image_changed.connect(self._on_image_changed)
        state.display_changed.connect(self._on_display_changed)
        canvas.window_drag_started.connect(self._on_window_drag_started)
        canvas.window_dragged.connect(self._on_window_dragged)
        canvas.window_drag_finished.connect(self._on_window_drag_finished)
        canvas.cursor_moved.connect(self._on_cursor_moved)
        canvas.view_changed.connect(self.update_overlays)
        canvas.painted.connect(self._on_painted)
        window_control.preset_chosen.connect(self.apply_preset)

    # -- actions ----------------------------------------------------------------------------

    def build_actions(self, add: Callable[..., QtGui.QAction]) -> None:
        """Create the Image and Tools actions with the window's action factory."""
        canvas = self.canvas
        self.preset_actions = []
        for i, name in enumerate(PRESET_NAMES):
            label = "Header window (again: next one)" if name == "Header" else f"{name} window"
            self.preset_actions.append(
                add(label, lambda _=False, n=name: self.apply_preset(n), [str(i + 1)])
            )
        self.act_invert = add("&Invert", self.state.toggle_invert, ["I"], checkable=True)
        self.act_hist = add(
            "Histogram &equalization", self._on_hist_triggered, ["E"], checkable=True
        )
        self.act_clahe = add("&CLAHE", self._on_clahe_triggered, ["C"], checkable=True)
        self.act_reset = add("&Reset window and view", self.reset_all, ["R"])

        self.act_fit = add("Zoom to &fit", canvas.fit, ["F"])
        self.act_actual = add("&Actual size (1:1)", canvas.actual_size, ["A"])
        self.act_zoom_in = add("Zoom in", lambda: canvas.zoom_by(1.25), ["+", "="])
        self.act_zoom_out = add("Zoom out", lambda: canvas.zoom_by(0.8), ["-"])
        self.act_rot_cw = add("Rotate 90\u00b0 clockwise", lambda: canvas.rotate(1), ["]"])
        self.act_rot_ccw = add(
            "Rotate 90\u00b0 counter-clockwise", lambda: canvas.rotate(-1), ["["]
        )
        self.act_flip_h = add("Flip &horizontal", canvas.toggle_flip_h, ["H"])
        self.act_flip_v = add("Flip &vertical", canvas.toggle_flip_v, ["V"])
        self.act_overlays = add(
            "Corner &overlays", self._on_overlays_toggled, ["O"], checkable=True
        )
        self.act_overlay_planes = add(
            "DICOM overlay &planes", self.overlay_layer.set_visible, ["Shift+O"], checkable=True
        )
        self.act_overlay_planes.setChecked(True)
        self.act_clear_rulers = add("Delete rulers", canvas.clear_rulers, ["Shift+Del"])

        self.tool_group = QtGui.QActionGroup(self)
        self.tool_actions: dict[str, QtGui.QAction] = {}
        for tool, text, key in (
            ("pan", "&Pan tool (Esc)", ""),
            ("window", "&Window/level tool", "W"),
            ("measure", "&Measure tool (ruler)", "M"),
        ):
            keys = [key] if key else []
            act = add(text, lambda _=False, t=tool: self.set_tool(t), keys, checkable=True)
            self.tool_group.addAction(act)
            self.tool_actions[tool] = act
        self.tool_actions["pan"].setChecked(True)

    def fill_image_menu(self, image: QtWidgets.QMenu) -> None:
        presets = image.addMenu("Window &presets")
        presets.addActions(self.preset_actions)
        image.addActions([self.act_invert, self.act_hist, self.act_clahe, self.act_reset])
        image.addSeparator()
        image.addActions([self.act_fit, self.act_actual, self.act_zoom_in, self.act_zoom_out])
        image.addSeparator()
        image.addActions([self.act_rot_cw, self.act_rot_ccw, self.act_flip_h, self.act_flip_v])
        image.addSeparator()
        image.addAction(self.act_overlay_planes)

    def fill_tools_menu(self, tools: QtWidgets.QMenu) -> None:
        tools.addActions(list(self.tool_actions.values()))
        tools.addAction(self.act_clear_rulers)

    def fill_toolbar(self, tb: QtWidgets.QToolBar) -> None:
        """Tools, the window/level control, display and view buttons."""
        for tool, text in (("pan", "Pan"), ("window", "W/L"), ("measure", "Ruler")):
            self.tool_actions[tool].setIconText(text)
            tb.addAction(self.tool_actions[tool])
        tb.addSeparator()
        tb.addWidget(self.window_control)
        for act, text in (
            (self.act_invert, "Invert"),
            (self.act_hist, "Equalize"),
            (self.act_clahe, "CLAHE"),
            (self.act_reset, "Reset"),
        ):
            act.setIconText(text)
            tb.addAction(act)
        tb.addSeparator()
        for act, text in (
            (self.act_fit, "Fit"),
            (self.act_actual, "1:1"),
            (self.act_rot_ccw, "\u21ba"),
            (self.act_rot_cw, "\u21bb"),
            (self.act_flip_h, "\u2194"),
            (self.act_flip_v, "\u2195"),
        ):
            act.setIconText(text)
            tb.addAction(act)

    # -- state -> canvas --------------------------------------------------------------------

    def clear(self, message: str | None = None) -> None:
        """Nothing (or an image that cannot be shown, with ``message``) on the canvas."""
        if message is None:
            self.canvas.clear_image()
        else:
            self.canvas.clear_image(message)
        self.overlay_layer.clear()
        self._shown_path = None

    def _on_image_changed(self, image: DicomImage | None) -> None:
        if image is None:
            return
        display = self.state.render()
        if display is None:
            return
        if image.path != self._shown_path:
            inst = self.state.current
            spacing = pixel_spacing(inst.header if inst is not None else image.header)
            self._shown_path = image.path
            self._painted_instance = inst
            note = "no pixel spacing" if image.is_dicom else NO_SPACING
            self.canvas.set_image(display, spacing=spacing, no_spacing_note=note)
            self._read_overlays(image)
            self.frame_shown.emit()
            # Thumbnails resume once this image is painted (they would compete for the GIL);
            # the timer covers a window that never paints (minimised).
            QtCore.QTimer.singleShot(500, self.foreground.clear)
        else:
            self.canvas.update_pixels(display)
            self.overlay_layer.show_frame(image.frame)
            self.foreground.clear()
            self.frame_shown.emit()  # another frame: its own boxes
        self._update_display_controls()
        for message in image.warnings:
            self.show_message(f"{Path(image.path).name}: {message}", 8000)

    def _read_overlays(self, image: DicomImage) -> None:
        """Draw the overlay planes of a new image (read from the header it came with)."""
        overlays = read_overlays(image.header) if image.is_dicom else Overlays()
        shape = (int(image.stored.shape[0]), int(image.stored.shape[1]))
        self.overlay_layer.set_planes(overlays.planes, shape, image.frame)
        self.overlays_read.emit(overlays)

    def _on_painted(self) -> None:
        self.foreground.clear()
        inst = self._painted_instance
        if inst is not None:
            self.painted.emit(inst)

    def _on_display_changed(self) -> None:
        if self.state.image is None:
            return
        display = self.state.render()
        if display is not None:
            self.canvas.update_pixels(display)
        self._update_display_controls()

    def _update_display_controls(self) -> None:
        st = self.state
        window = st.effective_window
        self.window_control.show_window(
            st.preset if st.window is not None else "Header",
            window_text(window) if window is not None else "",
        )
        self.act_invert.setChecked(st.invert)
        self.act_hist.setChecked(st.equalize == "hist")
        self.act_clahe.setChecked(st.equalize == "clahe")
        self.update_overlays()

    def update_overlays(self) -> None:
        """Corner texts of the image on screen (position, window, zoom, cursor)."""
        st = self.state
        inst = st.current
        if inst is None or st.image is None:
            return
        texts = corner_texts(
            inst.header,
            st.image,
            st.effective_window,
            zoom=self.canvas.zoom(),
            index=st.index_of(inst),
            count=len(st.images()),
            invert=st.invert,
            equalize=st.equalize,
        )
        if self._cursor is not None:
            texts["bottom_right"] = cursor_text(st.image, *self._cursor)
        self.canvas.set_overlay_text(texts)
        self.canvas.update_ruler_labels()

    def _on_cursor_moved(self, cursor: tuple[int, int] | None) -> None:
        self._cursor = cursor
        image = self.state.image
        text = cursor_text(image, *cursor) if cursor is not None and image is not None else ""
        self.canvas.set_corner_text("bottom_right", text)
        if not self.canvas.overlays_visible:
            self.show_message(text.replace("\n", "   "))

    # -- display actions --------------------------------------------------------------------

    def apply_preset(self, name: str) -> None:
        if self.state.image is None or self.state.image.is_color:
            return
        window = self.state.apply_preset(name)
        if window is not None:
            self.show_message(f"{name}: {window.label()}", 3000)

    def _on_hist_triggered(self, checked: bool) -> None:
        self.state.set_equalize("hist" if checked else "none")

    def _on_clahe_triggered(self, checked: bool) -> None:
        if checked:
            QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.CursorShape.WaitCursor)
            try:
                self.state.set_equalize("clahe")
            finally:
                QtWidgets.QApplication.restoreOverrideCursor()
        else:
            self.state.set_equalize("none")

    def reset_all(self) -> None:
        self.state.reset_display()
        self.canvas.reset_view()

    def set_tool(self, tool: str) -> None:
        self.canvas.set_tool(tool)
        self.tool_actions[tool].setChecked(True)
        self.show_message(TOOL_HELP[tool], 4000)

    def _on_overlays_toggled(self, checked: bool) -> None:
        self.canvas.set_overlays_visible(checked)
        self.prefs.show_overlays = checked

    # -- window/level drag ------------------------------------------------------------------

    def _on_window_drag_started(self) -> None:
        image = self.state.image
        window = self.state.effective_window
        if image is None or window is None or image.is_color:
            self._drag_start = None
            return
        self._drag_start = image.auto_window if window.kind == "lut" else window

    def _on_window_dragged(self, dx: float, dy: float) -> None:
        image = self.state.image
        if self._drag_start is None or image is None:
            return
        lo, hi = image.modality_range
        self.state.set_window(drag_window(self._drag_start, dx, dy, hi - lo), preset="Custom")

    def _on_window_drag_finished(self) -> None:
        self._drag_start = None
